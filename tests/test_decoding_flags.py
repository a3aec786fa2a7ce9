"""Every decoding setting is declared once (nmt.decoding.DecodingConfig) and reaches the search
from the command line: a flag that parsed but did not arrive would fail here."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from nmt.cli import main
from nmt.config import load_config
from nmt.decoding import DecodingConfig
from nmt.search import Search
from tests.conftest import DATA_DIR

# a value other than the tiny model's default for every setting, each allowed on its own
CHANGED = {
    "beam_size": "4",
    "length_penalty": "0.3",
    "max_len_a": "2.5",
    "max_len_b": "7",
    "min_len_a": "0.4",
    "batch_size": "3",
    "n_best": "2",
    "split_sentences": None,  # a bool: --split-sentences / --no-split-sentences
    "no_repeat_ngram": "3",
    "coverage_penalty": "0.2",
    "mbr": None,
    "mbr_samples": "2",
    "sampling": "topk",
    "sampling_topk": "5",
    "sampling_topp": "0.7",
    "sampling_epsilon": "0.1",
    "temperature": "0.8",
    "seed": "9",
    "shortlist": None,
}


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a shortlist, so that --shortlist can run too."""
    model_dir = tmp_path_factory.mktemp("flags") / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    english, spanish = (DATA_DIR / "tatoeba" / "dev.en"), (DATA_DIR / "tatoeba" / "dev.es")
    argv = ["shortlist", "-m", str(model_dir), "--src", str(english), "--tgt", str(spanish)]
    assert main([*argv, "--max-pairs", "300"]) == 0
    return model_dir


def test_the_table_covers_every_setting() -> None:
    assert set(CHANGED) == {spec.name for spec in dataclasses.fields(DecodingConfig)}


@pytest.mark.parametrize("name", list(CHANGED))
def test_each_flag_reaches_the_search(
    name: str, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = load_config(model_dir / "config.yaml").decoding
    flag = "--" + name.replace("_", "-")
    if CHANGED[name] is None:
        default = getattr(defaults, name)
        argv, expected = [flag if not default else f"--no-{flag[2:]}"], not default
    else:
        argv = [flag, CHANGED[name]]
        expected = type(getattr(defaults, name))(CHANGED[name])
    assert expected != getattr(defaults, name)
    seen: list[DecodingConfig] = []
    init = Search.__init__

    def recording(self: Search, settings: DecodingConfig, *args: object) -> None:
        seen.append(settings)
        init(self, settings, *args)

    monkeypatch.setattr(Search, "__init__", recording)
    source = tmp_path / "in.en"
    source.write_text("Tom is here.\nWhere is the station?\n", encoding="utf-8")
    if name == "mbr_samples":
        argv.append("--mbr")  # samples are drawn for MBR only
    command = ["translate", "-m", str(model_dir), "-i", str(source), "-o", str(tmp_path / "o")]
    assert main([*command, *argv]) == 0
    assert seen and getattr(seen[-1], name) == expected


def test_an_invalid_flag_value_is_named_by_its_flag(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["translate", "-m", str(tiny_model_dir), "--sampling-topp", "0"]) == 2
    assert "--sampling-topp: 0.0 is out of range; allowed: (0, 1]" in capsys.readouterr().err
    assert main(["translate", "-m", str(tiny_model_dir), "--sampling", "topk", "--mbr"]) == 2
    assert "--sampling and --mbr are two ways to pick the output" in capsys.readouterr().err
