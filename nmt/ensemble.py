"""Ensemble decoding: several models searched as one.

:class:`Ensemble` has the two methods a search uses (``encode`` and ``step``, see
:class:`nmt.search.Searchable`): every model encodes the source and takes each step, and the
ensemble's log-probabilities are the mean of the models' (Marian's and Sockeye's default
combination; a model in its own company gives back its own numbers exactly). The attention
weights reported are the mean of the models' too. The models must share the vocabularies, since
the search feeds each the same token ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class EnsembleRows:
    """One object per model (encoder outputs or decoder states), selected together."""

    parts: tuple[Any, ...]

    def select(self, index: Tensor) -> EnsembleRows:
        return EnsembleRows(tuple(part.select(index) for part in self.parts))


class Ensemble(nn.Module):
    """Models with one vocabulary, averaged at every search step."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(models) < 2:
            raise ValueError(f"an ensemble needs at least two models, got {len(models)}")
        self.models = nn.ModuleList(models)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[EnsembleRows, EnsembleRows]:
        encoded, states = zip(
            *(model.encode(src, src_lengths) for model in self.models), strict=True
        )
        return EnsembleRows(encoded), EnsembleRows(states)

    def step(
        self, prev_tokens: Tensor, encoded: EnsembleRows, state: EnsembleRows
    ) -> tuple[Tensor, Tensor, EnsembleRows]:
        steps = [
            model.step(prev_tokens, part, model_state)
            for model, part, model_state in zip(
                self.models, encoded.parts, state.parts, strict=True
            )
        ]
        log_probs = torch.stack([log_probs for log_probs, _, _ in steps]).mean(dim=0)
        weights = torch.stack([weights for _, weights, _ in steps]).mean(dim=0)
        return log_probs, weights, EnsembleRows(tuple(state for _, _, state in steps))
