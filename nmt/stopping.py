"""When a training run ends: its budget (``max_steps``, and ``max_minutes`` of training time summed
over resumed runs) and early stopping's patience, asked in one place after each step. The decay
schedule anneals towards the same budget's end (:meth:`StopRules.spent`), so "the end of
training" is defined once.
"""

from __future__ import annotations

from typing import Any

import torch

from nmt.config import TrainingConfig
from nmt.distributed import Process, sum_across
from nmt.training_state import Progress


class StopRules:
    """Reads ``progress`` as the trainer advances it; every rank must ask at the same steps."""

    def __init__(
        self, cfg: TrainingConfig, progress: Progress, process: Process, device: torch.device
    ):
        self.cfg, self.progress = cfg, progress
        self.process, self.device = process, device

    def spent(self) -> float:
        """The fraction of the budget used: of ``max_minutes`` or of ``max_steps``, whichever
        runs out first."""
        spent = 0.0
        if self.cfg.max_minutes > 0:
            spent = self.progress.train_seconds / (self.cfg.max_minutes * 60)
        if self.cfg.max_steps > 0:
            spent = max(spent, self.progress.step / self.cfg.max_steps)
        return min(spent, 1.0)

    def reason_to_stop(self, validated: bool) -> dict[str, Any] | None:
        """The log record of why training ends now, or None to go on. Patience is only counted
        at validations (``validated``); the step budget and the clock after every step."""
        cfg, step = self.cfg, self.progress.step
        if validated and 0 < cfg.early_stopping_patience <= self.progress.bad_validations:
            return {"event": "early_stop", "step": step}
        if cfg.max_steps and step >= cfg.max_steps:
            return {"event": "max_steps", "step": step}
        if self._time_is_up():
            return {"event": "time_limit", "step": step, "minutes": cfg.max_minutes}
        return None

    def _time_is_up(self) -> bool:
        """Every rank must agree, so in DDP one rank's clock running out stops all."""
        if self.cfg.max_minutes <= 0:
            return False
        up = self.progress.train_seconds >= self.cfg.max_minutes * 60
        return sum_across(float(up), self.process, self.device) > 0
