"""`nmt plot training|attention`: PNGs from a training log and from a model, and a one-line
error naming the `plot` extra without matplotlib."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from nmt.cli import main
from nmt.plot import forced_attention, read_log
from nmt.translator import Translator

PNG = b"\x89PNG\r\n\x1a\n"
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed"
)


def write_log(model_dir: Path) -> None:
    """Two training windows and two validations, step 20 logged again by a resumed run, and
    the partial last line of a killed one."""
    records = [
        {"event": "train", "step": 10, "loss": 5.0},
        {"event": "valid", "step": 10, "loss": 4.8, "bleu": 1.0, "chrf": 10.0},
        {"event": "train", "step": 20, "loss": 4.0},
        {"event": "resume", "step": 10},
        {"event": "train", "step": 20, "loss": 3.5},
        {"event": "valid", "step": 20, "loss": 3.4, "bleu": 2.0, "chrf": 15.0},
    ]
    model_dir.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(record) + "\n" for record in records)
    (model_dir / "train_log.jsonl").write_text(lines + '{"event": "tra', encoding="utf-8")


def test_read_log_keeps_the_last_record_of_a_step_and_skips_a_partial_line(
    tmp_path: Path,
) -> None:
    write_log(tmp_path)
    with pytest.warns(UserWarning, match=r"train_log.jsonl:7: not JSON"):
        train, valid = read_log(tmp_path / "train_log.jsonl")
    assert [(r["step"], r["loss"]) for r in train] == [(10, 5.0), (20, 3.5)]
    assert [r["bleu"] for r in valid] == [1.0, 2.0]


@needs_matplotlib
def test_plot_training_draws_a_png_from_the_model_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_log(tmp_path / "model")
    output = tmp_path / "curves" / "training.png"
    assert main(["plot", "training", str(tmp_path / "model"), "-o", str(output)]) == 0
    assert output.read_bytes()[:8] == PNG
    assert f"{output}: 2 training and 2 validation points" in capsys.readouterr().out


def test_plot_training_of_a_directory_without_a_log_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["plot", "training", str(tmp_path), "-o", str(tmp_path / "t.png")]) == 2
    error = capsys.readouterr().err
    assert (
        error.startswith("nmt plot: error: ") and "train_log.jsonl: training log not found" in error
    )
    assert not (tmp_path / "t.png").exists()


def test_without_matplotlib_plotting_names_the_plot_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    write_log(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    assert main(["plot", "training", str(tmp_path), "-o", str(tmp_path / "t.png")]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "nmt plot: error: plotting needs matplotlib, which is not installed: "
        "pip install 'nmt[plot]'"
    )
    model = ["-m", str(tmp_path), "--src", "Hello.", "-o", str(tmp_path / "a.png")]
    assert main(["plot", "attention", *model]) == 2  # before the (absent) model is loaded
    assert "pip install 'nmt[plot]'" in capsys.readouterr().err


@needs_matplotlib
def test_plot_attention_draws_a_png_searched_and_forced(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    searched, forced = tmp_path / "searched.png", tmp_path / "forced.png"
    source = ["-m", str(tiny_model_dir), "--src", "The cat sleeps on the sofa.", "--threads", "1"]
    assert main(["plot", "attention", *source, "--beam-size", "2", "-o", str(searched)]) == 0
    target = ["--tgt", "El gato duerme en el sofá."]
    averaged = ["--checkpoint", str(tiny_model_dir / "model.pt")]
    assert main(["plot", "attention", *source, *target, *averaged, "-o", str(forced)]) == 0
    for path in (searched, forced):
        assert path.read_bytes()[:8] == PNG
    assert "attention" in capsys.readouterr().out


def test_forced_attention_has_a_row_per_target_piece_summing_to_one(tiny_model_dir: Path) -> None:
    translator = Translator.from_pretrained(tiny_model_dir)
    alignment = forced_attention(translator, "The cat sleeps.", "El gato duerme.")
    assert alignment.tgt_pieces == translator.tokenizer.tgt_pieces(["El gato duerme."])[0]
    assert alignment.weights.shape == (len(alignment.tgt_pieces), len(alignment.src_pieces))
    torch.testing.assert_close(alignment.weights.sum(1), torch.ones(len(alignment.tgt_pieces)))
    assert alignment.score < 0
