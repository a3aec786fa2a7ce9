"""A training run's files across runs: starting, saving each validated step, and resuming after a
stop or a crash. One module, because the order of the writes is what makes the repair possible.

At a validation the step checkpoint is written before ``model.pt`` (:func:`save_validated_step`),
so a crash between the two leaves a checkpoint that names a best step ``model.pt`` does not hold
yet; resuming rewrites ``model.pt`` from that step's checkpoint (:func:`repair_after_crash`). A
directory that holds checkpoints is never trained over without ``--resume`` or ``--restart``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nmt.checkpoint import (
    CheckpointError,
    best_weights,
    list_step_checkpoints,
    load_latest_checkpoint,
    prune_checkpoints,
    remove_stale_temporaries,
    repair_best_weights,
    save_checkpoint,
    set_aside_newer,
    step_checkpoint_name,
)
from nmt.constants import CHECKPOINT_DIR, WEIGHTS_FILE
from nmt.errors import NMTError


def find_checkpoint(
    model_dir: Path, resume: bool, device: torch.device
) -> tuple[Path, dict[str, Any]] | None:
    """The newest readable checkpoint to resume from; None to start afresh (not resuming, or a run
    killed before its first checkpoint). Only reads, so a failed ``--resume`` changes nothing."""
    checkpoint_dir = model_dir / CHECKPOINT_DIR
    existing = [path.name for _, path in list_step_checkpoints(checkpoint_dir)]
    if not resume:
        if existing:
            raise NMTError(
                f"{checkpoint_dir} already holds checkpoints: pass --resume to continue, "
                "--restart to train from step 0 there, or choose another training.model_dir"
            )
        return None
    found = load_latest_checkpoint(checkpoint_dir, map_location=device)
    if found is None and existing:
        raise CheckpointError(
            f"--resume: no readable checkpoint in {checkpoint_dir} ({', '.join(existing)}); "
            "nothing was changed. Pass --restart to train from step 0 in this directory, or "
            "remove it"
        )
    return found


def remove_stale_files(model_dir: Path) -> None:
    """Delete what saves killed mid-write left (only the lock holder may call this)."""
    for directory in (model_dir / CHECKPOINT_DIR, model_dir):
        for path in remove_stale_temporaries(directory):
            print(f"removed {path}, left by a save that was killed mid-write", flush=True)


def save_validated_step(
    model_dir: Path,
    state: dict[str, Any],
    step: int,
    is_best: bool,
    keep_last: int,
    keep_steps: set[int],
) -> None:
    """The step checkpoint first, then ``model.pt`` if ``is_best`` (see the module docstring for
    why this order), then pruning to the newest ``keep_last`` and ``keep_steps``."""
    checkpoint_dir = model_dir / CHECKPOINT_DIR
    save_checkpoint(state, checkpoint_dir / step_checkpoint_name(step))
    if is_best:
        save_checkpoint(best_weights(state, step), model_dir / WEIGHTS_FILE)
    prune_checkpoints(checkpoint_dir, keep_last, keep_steps | {step})


def repair_after_crash(model_dir: Path, step: int, best_step: int) -> list[dict[str, Any]]:
    """Resuming at ``step``: set aside the newer checkpoints (they could not be read), and make
    ``model.pt`` hold ``best_step``, the best step the resumed checkpoint records. Returns the log
    records of what was done."""
    records: list[dict[str, Any]] = [
        {"event": "unreadable_checkpoint", "checkpoint": str(path)}
        for path in set_aside_newer(model_dir / CHECKPOINT_DIR, after=step)
    ]
    try:
        if repair_best_weights(model_dir, best_step):
            records.append({"event": "repaired", "file": WEIGHTS_FILE, "step": best_step})
    except CheckpointError as error:
        records.append({"event": "warning", "message": f"{WEIGHTS_FILE} not repaired: {error}"})
    return records
