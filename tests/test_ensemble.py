"""Ensemble decoding (nmt.ensemble): a model with itself is the model; two models that disagree
give a third answer, no worse than the weaker of them on their task (copying English)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sacrebleu.metrics import CHRF

from nmt.cli import main
from nmt.ensemble import Ensemble
from nmt.errors import NMTError
from nmt.translator import Translator
from tests.conftest import DATA_DIR

SETTINGS = dict(beam_size=3, n_best=3, length_penalty=1.0, split_sentences=False)


@pytest.fixture(scope="module")
def held_out() -> list[str]:
    """English lines neither tiny model was trained on."""
    lines = (DATA_DIR / "tatoeba" / "dev.en").read_text(encoding="utf-8").splitlines()
    return lines[600:680]


def test_a_model_with_itself_is_the_model(tiny_model_dir: Path, held_out: list[str]) -> None:
    alone = Translator.from_pretrained(tiny_model_dir)
    twice = Translator.from_pretrained([tiny_model_dir, tiny_model_dir])
    assert isinstance(twice.model, Ensemble) and len(twice.model.models) == 2  # not one model
    lines = held_out[:20]
    for beam in (1, 3):
        expected = alone.translate_hypotheses(lines, **{**SETTINGS, "beam_size": beam, "n_best": 1})
        found = twice.translate_hypotheses(lines, **{**SETTINGS, "beam_size": beam, "n_best": 1})
        assert [[(t.text, t.score) for t in n] for n in found] == [
            [(t.text, t.score) for t in n] for n in expected
        ]
        for a, b in zip(found, expected, strict=True):
            assert a[0].attention.equal(b[0].attention)


def test_two_models_make_a_third_no_worse_than_the_weaker(
    tiny_model_dir: Path, second_tiny_model_dir: Path, held_out: list[str]
) -> None:
    first = Translator.from_pretrained(tiny_model_dir).translate(
        held_out, **SETTINGS | {"n_best": 1}
    )
    second = Translator.from_pretrained(second_tiny_model_dir).translate(
        held_out, **SETTINGS | {"n_best": 1}
    )
    both = Translator.from_pretrained([tiny_model_dir, second_tiny_model_dir]).translate(
        held_out, **SETTINGS | {"n_best": 1}
    )
    assert both != first and both != second
    chrf = CHRF()
    # the models were taught to copy: the source is the reference
    scores = [chrf.corpus_score(out, [held_out]).score for out in (first, second, both)]
    assert scores[2] >= min(scores[:2]), scores


def test_checkpoints_of_one_model_and_the_cli_flags(
    tiny_model_dir: Path, second_tiny_model_dir: Path, held_out: list[str], tmp_path: Path
) -> None:
    """``-m A -m B`` and ``-m A --checkpoint a.pt b.pt`` reach the ensemble."""
    source = tmp_path / "in.en"
    source.write_text("\n".join(held_out[:15]) + "\n", encoding="utf-8")
    expected = Translator.from_pretrained([tiny_model_dir, second_tiny_model_dir]).translate(
        held_out[:15]
    )
    single = Translator.from_pretrained(tiny_model_dir).translate(held_out[:15])
    assert expected != single
    by_dirs = tmp_path / "dirs.es"
    assert (
        main(
            [
                "translate",
                "-m",
                str(tiny_model_dir),
                "-m",
                str(second_tiny_model_dir),
                "-i",
                str(source),
                "-o",
                str(by_dirs),
            ]
        )
        == 0
    )
    assert by_dirs.read_text(encoding="utf-8").splitlines() == expected
    by_checkpoints = tmp_path / "checkpoints.es"
    argv = [
        "translate",
        "-m",
        str(tiny_model_dir),
        "--checkpoint",
        str(tiny_model_dir / "model.pt"),
        str(second_tiny_model_dir / "model.pt"),
        "-i",
        str(source),
        "-o",
        str(by_checkpoints),
    ]
    assert main(argv) == 0
    assert by_checkpoints.read_text(encoding="utf-8").splitlines() == expected


def test_models_with_other_vocabularies_are_refused(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    # the same model with its source and target vocabularies made different: a separate
    # target SentencePiece model trained on other text
    from nmt.config import load_config
    from nmt.tokenizer import train_tokenizer

    config = load_config(other / "config.yaml")
    text = tmp_path / "text.txt"
    lines = (DATA_DIR / "tatoeba" / "dev.es").read_text(encoding="utf-8").splitlines()[900:1500]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    retrained = tmp_path / "spm"
    train_tokenizer(config.tokenizer, [str(text)], [str(text)], retrained)
    shutil.copy(retrained / "spm.model", other / "spm.model")
    with pytest.raises(NMTError, match="different vocabularies"):
        Translator.from_pretrained([tiny_model_dir, other])
    assert main(["translate", "-m", str(tiny_model_dir), "-m", str(other)]) == 2
    assert "different vocabularies" in capsys.readouterr().err
