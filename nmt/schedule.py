"""Learning-rate schedules: one small object per kind, chosen once from the config.

The trainer tells a schedule two things, ``after_step()`` after every optimizer update and
``after_validation(score)`` after every validation (score: higher is better); each kind reacts to
the one it needs, so the trainer never asks which kind it holds. A schedule's state is its torch
scheduler's ``state_dict``, saved in every checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from nmt.config import TrainingConfig


class Schedule:
    """A per-step schedule (constant, warmup, inverse square root, decay) over a LambdaLR."""

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler

    def after_step(self) -> None:
        self.scheduler.step()

    def after_validation(self, score: float) -> None:
        """Per-step schedules ignore validations."""

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


class PlateauSchedule(Schedule):
    """Cuts the learning rate by ``plateau_factor`` when validation stops improving."""

    def after_step(self) -> None:
        """Steps alone never change a plateau schedule."""

    def after_validation(self, score: float) -> None:
        self.scheduler.step(score)


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: TrainingConfig, budget_spent: Callable[[], float]
) -> Schedule:
    """``budget_spent()``: the fraction (0 to 1) of the training budget used, for ``decay``."""
    if cfg.schedule == "plateau":
        return PlateauSchedule(
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="max",
                factor=cfg.plateau_factor,
                patience=cfg.plateau_patience,
                min_lr=cfg.min_lr,
            )
        )
    if cfg.schedule == "inverse_sqrt":
        warmup = max(cfg.warmup_steps, 1)
        return Schedule(
            torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: min((step + 1) / warmup, math.sqrt(warmup / (step + 1)))
            )
        )
    warmup = cfg.warmup_steps
    decays = cfg.schedule == "decay"
    floor = min(cfg.min_lr / cfg.lr, 1.0) if decays else 1.0

    def factor(step: int) -> float:
        scale = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
        if decays:
            scale *= decay_factor(budget_spent(), cfg.decay_fraction, floor)
        return scale

    return Schedule(torch.optim.lr_scheduler.LambdaLR(optimizer, factor))


def decay_factor(spent: float, fraction: float, floor: float) -> float:
    """1 until the last ``fraction`` of the budget, then linearly down to ``floor`` at its end.
    Annealing at the end of a time budget gets the gain of a decayed learning rate without
    knowing in advance how many steps the budget holds (warmup-stable-decay)."""
    left = (1.0 - spent) / fraction
    return floor + (1.0 - floor) * min(1.0, max(left, 0.0))
