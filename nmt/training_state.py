"""The parts of a training state that are neither model nor data: counters, the optimizer, and
the random number generators, saved in every checkpoint so that a resumed run continues
bit for bit."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nmt.checkpoint import list_step_checkpoints
from nmt.config import TrainingConfig
from nmt.errors import NMTError


@dataclass
class Progress:
    """Counters saved in every checkpoint."""

    step: int = 0  # optimizer updates
    best: list[list[float]] = field(default_factory=list)  # [score, step], best first
    bad_validations: int = 0  # validations since the last improvement
    train_seconds: float = 0.0  # wall time spent in the loop (steps and validations), all runs

    def count_validation(self, score: float) -> int:
        """Early stopping's count after a validation scoring ``score`` (higher is better): 0 if
        it beats the best so far, else one more than before."""
        if self.best and score <= self.best[0][0]:
            self.bad_validations += 1
        else:
            self.bad_validations = 0
        return self.bad_validations

    def rank(self, score: float, step: int, keep: int) -> None:
        """Enter a validated step into ``best``, which keeps the ``keep`` best (at least one)."""
        self.best.append([score, step])
        self.best.sort(key=lambda entry: -entry[0])
        del self.best[max(keep, 1) :]


class TrainingDiverged(NMTError):
    """Too many updates in a row had a non-finite loss or gradient."""


class NonFiniteGuard:
    """Marian's --check-nan / --throw-on-divergence: an update whose loss or gradient is not
    finite is skipped (and logged); ``limit`` of them in a row stop training, leaving the files
    on disk as the last good validation wrote them."""

    def __init__(self, limit: int, checkpoint_dir: Path):
        self.limit, self.checkpoint_dir = limit, checkpoint_dir
        self.in_a_row = 0

    def reset(self) -> None:
        self.in_a_row = 0

    def skip(self, step: int, loss: float, norm: float) -> dict[str, Any]:
        """Count one skipped update; returns its log record."""
        self.in_a_row += 1
        return {
            "event": "skip",
            "step": step,
            "reason": "non-finite loss or gradient",
            "loss": loss if math.isfinite(loss) else str(loss),
            "grad_norm": norm if math.isfinite(norm) else str(norm),
            "in_a_row": self.in_a_row,
        }

    def stop_if_diverged(self, step: int) -> None:
        if self.in_a_row < self.limit:
            return
        saved = list_step_checkpoints(self.checkpoint_dir)
        kept = f"the last checkpoint ({saved[-1][1]}) and model.pt are" if saved else "nothing"
        raise TrainingDiverged(
            f"training diverged after step {step}: {self.limit} updates in a row had a "
            f"non-finite loss or gradient (each skipped; see train_log.jsonl); {kept} kept as "
            "they were. Lower training.lr, raise training.warmup_steps or set "
            "training.clip_norm, then resume or restart"
        )


def build_optimizer(model: nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """Adam(W) with the fused kernel: one pass over each parameter instead of a dozen ops."""
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(
        model.parameters(),
        lr=cfg.lr,
        betas=tuple(cfg.betas),
        weight_decay=cfg.weight_decay,
        fused=True,
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
