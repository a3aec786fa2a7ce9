"""A model directory's files: the checkpoint format version, and averaging step checkpoints
through ModelDir (the library and `nmt average`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nmt.checkpoint import FORMAT_VERSION, CheckpointError, load_checkpoint, save_checkpoint


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
