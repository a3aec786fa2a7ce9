"""Checkpoints that a crash cannot corrupt, loaded without executing pickled code.

A checkpoint is written to a temporary file in the same directory, flushed to disk, then renamed
over its final name: a reader sees either the old complete file or the new complete file. Loading
uses ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers.
A process killed mid-write leaves only a ``.NAME.*.tmp`` file, which
:func:`remove_stale_temporaries` clears when training starts again.

Every file written records ``format_version`` (:data:`FORMAT_VERSION`), so that a later nmt that
changes what a checkpoint holds can still read today's files, and today's nmt refuses a newer
file with a clear error instead of failing on a missing key. A file without one (written before
versions were recorded) is version 1.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nmt.constants import CHECKPOINT_DIR, WEIGHTS_FILE
from nmt.errors import NMTError
from nmt.linestream import new_file_mode

FORMAT_VERSION = 1  # what save_checkpoint writes
READABLE_VERSIONS = (1,)  # what load_checkpoint accepts


class CheckpointError(NMTError):
    """A checkpoint is missing, truncated, not one of ours, or of a format this nmt cannot read."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Atomically write ``state`` (tensors, numbers, strings, lists, dicts) to ``path``, with
    ``format_version`` set to :data:`FORMAT_VERSION`."""
    state = {**state, "format_version": FORMAT_VERSION}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fchmod(handle.fileno(), new_file_mode())
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:  # a full disk names no file: name the checkpoint
        Path(temporary).unlink(missing_ok=True)
        if error.filename is None:
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


_TEMPORARY_PATTERN = re.compile(r"^\..+\.pt\..+\.tmp$")


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files that a save killed mid-write left in ``directory``.

    Only call this while no other process saves there (the trainer holds the directory's lock).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [path for path in directory.iterdir() if _TEMPORARY_PATTERN.match(path.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint; a missing, truncated or foreign file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): a write that never finished")
    if not _is_zip(path):  # torch.save writes a zip archive; its end is its table of contents
        raise CheckpointError(
            f"checkpoint {path} is unreadable (truncated or corrupt): not a complete archive"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, which would run the file's code
        raise CheckpointError(
            f"checkpoint {path} holds objects other than tensors and plain containers; refused, "
            "since loading them could run code (not a checkpoint written by nmt)"
        ) from None
    except Exception as error:  # torch raises RuntimeError, EOFError, zip errors
        raise CheckpointError(
            f"checkpoint {path} is unreadable (truncated or corrupt): "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not an nmt checkpoint (no 'model' entry)")
    version = state.get("format_version", 1)  # files from before versions were recorded: 1
    if version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise CheckpointError(
            f"{path} is in checkpoint format {version!r}; this nmt reads format(s) {readable}: "
            "it was written by a newer nmt, so upgrade nmt to load it"
        )
    return state


def _is_zip(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


_STEP_PATTERN = re.compile(r"^step_(\d+)\.pt$")


def step_checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.pt"


def list_step_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """(step, path) for every ``step_N.pt`` in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _STEP_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def load_latest_checkpoint(
    directory: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Path, dict[str, Any]] | None:
    """The newest readable step checkpoint; unreadable newer ones are skipped with a warning."""
    for _, path in reversed(list_step_checkpoints(directory)):
        try:
            return path, load_checkpoint(path, map_location)
        except CheckpointError as error:
            print(f"warning: {error}; trying the previous checkpoint", flush=True)
    return None


# ---- a model directory's training files --------------------------------------------------------


def best_weights(state: dict[str, Any], step: int) -> dict[str, Any]:
    """What ``model.pt`` keeps of a full training state: what translation needs."""
    keys = ("model", "src_vocab_size", "tgt_vocab_size", "metrics")
    return {key: state[key] for key in keys if key in state} | {"step": step}


def repair_best_weights(model_dir: str | Path, best_step: int) -> bool:
    """Make ``model.pt`` hold ``best_step`` (the best step a checkpoint records), rewriting it
    from that step's checkpoint if a crash between the two writes left an older one; True if it
    was rewritten. A CheckpointError if that checkpoint cannot be read."""
    model_dir = Path(model_dir)
    try:
        if load_checkpoint(model_dir / WEIGHTS_FILE).get("step") == best_step:
            return False
    except CheckpointError:
        pass  # missing or unreadable: rewrite it
    state = load_checkpoint(model_dir / CHECKPOINT_DIR / step_checkpoint_name(best_step))
    save_checkpoint(best_weights(state, best_step), model_dir / WEIGHTS_FILE)
    return True


def set_aside_newer(directory: str | Path, after: int) -> list[Path]:
    """Rename the step checkpoints newer than ``after`` to ``NAME.unreadable`` (resuming from
    ``after`` means they could not be read), so that pruning, which keeps the newest step
    numbers, never keeps them instead of a good one."""
    moved = []
    for step, path in list_step_checkpoints(directory):
        if step > after:
            path.replace(path.with_name(path.name + ".unreadable"))
            moved.append(path)
    return moved


def prune_checkpoints(directory: str | Path, keep_last: int, keep_steps: set[int]) -> None:
    """Delete the step checkpoints of ``directory`` but the newest ``keep_last`` and
    ``keep_steps``."""
    found = list_step_checkpoints(directory)
    keep = {step for step, _ in found[-max(keep_last, 1) :]} | keep_steps
    for step, path in found:
        if step not in keep:
            path.unlink(missing_ok=True)


def clear_training_state(model_dir: str | Path) -> None:
    """Delete the step checkpoints and best weights of ``model_dir`` (to train from step 0)."""
    model_dir = Path(model_dir)
    for _, path in list_step_checkpoints(model_dir / CHECKPOINT_DIR):
        path.unlink()
    (model_dir / WEIGHTS_FILE).unlink(missing_ok=True)


def tensor_aliases(weights: dict[str, torch.Tensor]) -> dict[str, str]:
    """name -> the first name holding the same tensor (tied or shared embeddings are one)."""
    first_by_tensor: dict[tuple, str] = {}
    aliases = {}
    for name, tensor in weights.items():
        if tensor.numel() == 0:  # empty tensors may share address 0 without being one
            aliases[name] = name
            continue
        key = (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()))
        aliases[name] = first_by_tensor.setdefault(key, name)
    return aliases


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, Any]:
    """The element-wise mean of the weights of several checkpoints of one model, in the layout
    of ``model.pt``: ``model`` (in the original dtypes), ``src_vocab_size``, ``tgt_vocab_size``,
    ``step`` (the newest averaged) and ``averaged_steps``.

    Names that share one tensor in the first checkpoint (tied or shared embeddings) share one
    averaged tensor, so the result saves and counts that matrix once, like the checkpoints do.
    Each file is loaded once (a training state also holds the optimizer's, twice the weights).
    """
    if not paths:
        raise CheckpointError("no checkpoints to average")
    if len(set(map(Path, paths))) != len(paths):
        raise CheckpointError("a checkpoint is listed twice; each must count once in the mean")
    total: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    alias: dict[str, str] = {}
    sizes: tuple[int | None, int | None] | None = None
    steps = []
    for index, path in enumerate(paths):
        state = load_checkpoint(path)
        weights = state["model"]
        found = (state.get("src_vocab_size"), state.get("tgt_vocab_size"))
        if index == 0:
            alias, sizes = tensor_aliases(weights), found
        elif weights.keys() != alias.keys():
            raise CheckpointError(f"{path} holds different parameters than {paths[0]}")
        elif found != sizes:
            raise CheckpointError(
                f"{path} is for vocabularies of {found[0]} and {found[1]} pieces, {paths[0]} for "
                f"{sizes[0]} and {sizes[1]}: checkpoints of different models"
            )
        # a training state counts its steps in "progress", model.pt in "step"
        steps.append(state.get("progress", {}).get("step", state.get("step")))
        for name, tensor in weights.items():
            if alias[name] != name:
                continue
            if name in total:
                total[name] += tensor.double()
            else:
                total[name], dtypes[name] = tensor.double().clone(), tensor.dtype
    mean = {name: (tensor / len(paths)).to(dtypes[name]) for name, tensor in total.items()}
    return {
        "model": {name: mean[first] for name, first in alias.items()},
        "src_vocab_size": sizes[0],
        "tgt_vocab_size": sizes[1],
        "step": max((step for step in steps if step is not None), default=None),
        "averaged_steps": steps,
    }


def select_checkpoints(
    directory: str | Path, last: int | None = None, best: int | None = None
) -> list[Path]:
    """The ``last`` newest or the ``best`` best-scoring (on validation) step checkpoints of
    ``directory``, oldest first; fewer than asked for is a warning, none an error."""
    if (last is None) == (best is None):
        raise ValueError("give one of last and best")
    count = last if last is not None else best
    if count < 1:
        raise CheckpointError(
            f"the number of checkpoints to average must be at least 1, not {count}"
        )
    found = list_step_checkpoints(directory)
    if not found:
        raise CheckpointError(f"{directory}: no step_N.pt checkpoints to average")
    if last is not None:
        chosen = found[-count:]
    else:
        scored = []
        for step, path in found:
            score = load_checkpoint(path).get("metrics", {}).get("score")
            if score is None:
                raise CheckpointError(
                    f"{path} records no validation score: choose the last checkpoints instead "
                    "of the best"
                )
            scored.append((score, step, path))
        chosen = [(step, path) for _, step, path in sorted(scored, reverse=True)[:count]]
    if len(chosen) < count:
        warnings.warn(
            f"{directory} holds {len(chosen)} step checkpoints, fewer than the {count} asked for; "
            "averaging those (training.keep_last and keep_best say how many training keeps)",
            stacklevel=2,
        )
    return [path for _, path in sorted(chosen)]
