"""A model directory's files: the checkpoint format version, and averaging step checkpoints
through ModelDir (the library and `nmt average`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nmt.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    average_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from nmt.cli import main
from nmt.config import ModelConfig
from nmt.model import build_model
from nmt.model_dir import ModelDir
from tests.test_recipe import load_tool


def test_checkpoints_record_their_format_version(tmp_path: Path) -> None:
    save_checkpoint({"model": {"w": torch.ones(2)}}, tmp_path / "model.pt")
    assert torch.load(tmp_path / "model.pt", weights_only=True)["format_version"] == FORMAT_VERSION
    assert load_checkpoint(tmp_path / "model.pt")["format_version"] == FORMAT_VERSION


def test_a_checkpoint_without_a_format_version_loads_as_version_one(tmp_path: Path) -> None:
    """Files written before versions were recorded (torch.save of the bare dictionary)."""
    torch.save({"model": {"w": torch.ones(2)}, "step": 7}, tmp_path / "old.pt")
    state = load_checkpoint(tmp_path / "old.pt")
    assert state["step"] == 7 and torch.equal(state["model"]["w"], torch.ones(2))


def test_a_newer_format_version_is_refused_naming_the_file_and_the_readable_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "future.pt"
    torch.save({"model": {"w": torch.ones(2)}, "format_version": FORMAT_VERSION + 1}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert str(path) in message
    assert f"checkpoint format {FORMAT_VERSION + 1}" in message
    assert f"this nmt reads format(s) {FORMAT_VERSION}" in message


# ---- averaging -----------------------------------------------------------------------------------


def write_step_checkpoints(model_dir: Path) -> None:
    """Three step checkpoints of a two-tensor "model", with validation scores 10, 30, 20."""
    for step, (w, b, score) in {
        100: ([1.0, 2.0], [3.0], 10.0),
        200: ([3.0, 4.0], [5.0], 30.0),
        300: ([8.0, 9.0], [1.0], 20.0),
    }.items():
        save_checkpoint(
            {
                "model": {"w": torch.tensor(w), "b": torch.tensor(b)},
                "src_vocab_size": 10,
                "tgt_vocab_size": 12,
                "progress": {"step": step},
                "metrics": {"score": score},
            },
            model_dir / "checkpoints" / f"step_{step:08d}.pt",
        )


def test_average_gives_the_element_wise_mean_in_the_layout_of_model_pt(tmp_path: Path) -> None:
    write_step_checkpoints(tmp_path)
    paths = [tmp_path / "checkpoints" / f"step_{step:08d}.pt" for step in (100, 200)]
    averaged = average_checkpoints(paths)
    torch.testing.assert_close(averaged["model"]["w"], torch.tensor([2.0, 3.0]))
    torch.testing.assert_close(averaged["model"]["b"], torch.tensor([4.0]))
    assert (averaged["src_vocab_size"], averaged["tgt_vocab_size"]) == (10, 12)
    assert (averaged["step"], averaged["averaged_steps"]) == (200, [100, 200])
    with pytest.raises(CheckpointError, match="listed twice"):
        average_checkpoints([paths[0], paths[0]])


def test_nmt_average_writes_the_last_or_best_checkpoints_into_averaged_pt(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_step_checkpoints(tmp_path)
    previous = os.umask(0o022)
    try:
        assert main(["average", str(tmp_path), "--last", "2"]) == 0
    finally:
        os.umask(previous)
    assert "averaged 2 checkpoints (steps 200, 300)" in capsys.readouterr().out
    averaged = load_checkpoint(tmp_path / "averaged.pt")
    assert averaged["averaged_steps"] == [200, 300]
    torch.testing.assert_close(averaged["model"]["w"], torch.tensor([5.5, 6.5]))
    assert (tmp_path / "averaged.pt").stat().st_mode & 0o777 == 0o644
    assert main(["average", str(tmp_path), "--best", "2", "-o", str(tmp_path / "b.pt")]) == 0
    assert load_checkpoint(tmp_path / "b.pt")["averaged_steps"] == [200, 300]
    path, averaged = ModelDir(tmp_path).average(best=1)
    assert path == tmp_path / "averaged.pt" and averaged["averaged_steps"] == [200]
    assert load_checkpoint(path)["averaged_steps"] == [200]
    assert main(["average", str(tmp_path)]) == 0  # the last 5: the 3 there are, with a warning
    assert "warning: " in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "averaged.pt")["averaged_steps"] == [100, 200, 300]


def test_nmt_average_without_checkpoints_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["average", str(tmp_path), "--last", "2"]) == 2
    error = capsys.readouterr().err
    assert (
        error
        == f"nmt average: error: {tmp_path / 'checkpoints'}: no step_N.pt checkpoints to average\n"
    )
    assert main(["average", str(tmp_path / "absent")]) == 2
    assert "model directory not found" in capsys.readouterr().err


def test_average_keeps_shared_embeddings_one_matrix(tmp_path: Path) -> None:
    """Source, target and output embeddings as one matrix stay one matrix, counted once."""
    results_table = load_tool("results_table")
    config = ModelConfig(
        emb_size=16, encoder_hidden=8, decoder_hidden=16, share_embeddings=True, tie_embeddings=True
    )
    models = []
    for step in (100, 200):
        torch.manual_seed(step)
        model = build_model(config, 20, 20)
        models.append(model)
        state = {"model": model.state_dict(), "src_vocab_size": 20, "tgt_vocab_size": 20}
        path = tmp_path / "checkpoints" / f"step_{step:08d}.pt"
        save_checkpoint({**state, "progress": {"step": step}}, path)
    output, _ = ModelDir(tmp_path).average(last=2)

    weights = load_checkpoint(output)["model"]
    tied = ("encoder.embed.weight", "decoder.embed.weight", "output_layer.weight")
    assert len({weights[name].data_ptr() for name in tied}) == 1
    mean = (models[0].encoder.embed.weight + models[1].encoder.embed.weight) / 2
    torch.testing.assert_close(weights["output_layer.weight"], mean.detach())
    unique = sum(p.numel() for p in models[0].parameters())  # parameters() yields a tied one once
    assert unique < sum(t.numel() for t in weights.values())
    assert results_table.weights_summary(output)["parameters"] == unique
    averaged_model = build_model(config, 20, 20)
    averaged_model.load_state_dict(weights)  # strict: every name is still there
    torch.testing.assert_close(averaged_model.decoder.embed.weight, mean.detach())


def test_average_refuses_checkpoints_of_different_vocabularies(tmp_path: Path) -> None:
    for step, vocab in ((1, 10), (2, 11)):
        state = {"model": {"w": torch.zeros(2)}, "src_vocab_size": vocab, "tgt_vocab_size": vocab}
        save_checkpoint(state, tmp_path / "checkpoints" / f"step_{step:08d}.pt")
    with pytest.raises(CheckpointError, match="checkpoints of different models"):
        ModelDir(tmp_path).average(last=2)
    assert not (tmp_path / "averaged.pt").exists()


def test_best_needs_validation_scores(tmp_path: Path) -> None:
    save_checkpoint({"model": {"w": torch.zeros(2)}}, tmp_path / "checkpoints" / "step_00000001.pt")
    with pytest.raises(CheckpointError, match="records no validation score"):
        ModelDir(tmp_path).average(best=1)
