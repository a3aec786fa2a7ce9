"""Forced decoding: how probable the model finds a given translation, and where it looks.

The scores of ``nmt score`` (as ``marian-scorer`` and ``sockeye-score`` give them): for each
sentence pair, the log-probability of every target piece and of EOS given the source and the
pieces before it. Corpus filtering keeps the pairs a model finds probable; reranking compares
candidates by them. The model is stepped along the target exactly as a search steps it
(``encode`` and ``step``, one model or an ensemble, any precision), so a search's own output
scores the same here as in the search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from nmt.constants import BOS_ID, EOS_ID
from nmt.search import Searchable, eval_mode
from nmt.translator import Translator, padded_ids


@dataclass
class PairScore:
    """Log-probabilities of one target given its source: one per target piece, EOS last."""

    token_log_probs: list[float]

    @property
    def total(self) -> float:
        """The sentence's log-probability; 0 for an empty pair, -inf when one side is empty."""
        return sum(self.token_log_probs) if self.token_log_probs else 0.0

    @property
    def mean(self) -> float:
        """Per token (EOS included): comparable across lengths."""
        return self.total / len(self.token_log_probs) if self.token_log_probs else self.total


def score_pairs(
    translator: Translator, sources: Sequence[str], targets: Sequence[str], batch_size: int = 64
) -> list[PairScore]:
    """Scores of ``targets`` as translations of ``sources`` (lines, in order).

    Lines are stripped as for translation. A pair of two empty lines scores 0 (the empty line
    translates to itself); a pair with one side empty gets one log-probability of -inf: it
    cannot be a translation, and a filter drops it.
    """
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} source lines but {len(targets)} target lines")
    src_texts = [line.strip() for line in sources]
    tgt_texts = [line.strip() for line in targets]
    scores = [PairScore([]) for _ in src_texts]
    real = []
    for i, (source, target) in enumerate(zip(src_texts, tgt_texts, strict=True)):
        if source and target:
            real.append(i)
        elif source or target:
            scores[i] = PairScore([-math.inf])
    src_ids = translator.tokenizer.encode_src([src_texts[i] for i in real])
    tgt_ids = translator.tokenizer.encode_tgt([tgt_texts[i] for i in real])
    order = sorted(range(len(real)), key=lambda r: -len(src_ids[r]))
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        found, _ = forced_decode(
            translator.model,
            [src_ids[r] for r in batch],
            [tgt_ids[r] for r in batch],
            translator.device,
        )
        for r, log_probs in zip(batch, found, strict=True):
            scores[real[r]] = PairScore(log_probs)
    return scores


def forced_decode(
    model: Searchable,
    sources: list[list[int]],
    targets: list[list[int]],
    device: torch.device | str = "cpu",
    with_attention: bool = False,
) -> tuple[list[list[float]], list[Tensor]]:
    """Each target's log-probabilities, piece by piece and then EOS, given its source (ids),
    and with ``with_attention`` each pair's (target + EOS, source) attention weights on the CPU."""
    src, src_lengths = padded_ids(sources, device)
    tgt, tgt_lengths = padded_ids([[*ids, EOS_ID] for ids in targets], device)
    found = torch.zeros(tgt.shape, device=device)
    weights = []
    with torch.inference_mode(), eval_mode(model):
        encoded, state = model.encode(src, src_lengths)
        prev = torch.full((len(sources),), BOS_ID, dtype=torch.long, device=device)
        for t in range(tgt.size(1)):
            log_probs, step_weights, state = model.step(prev, encoded, state)  # (batch, vocab)
            found[:, t] = log_probs.gather(1, tgt[:, t : t + 1]).squeeze(1)
            if with_attention:
                weights.append(step_weights)
            prev = tgt[:, t]
    lengths = tgt_lengths.tolist()
    log_probs = [row[:length] for row, length in zip(found.cpu().tolist(), lengths, strict=True)]
    attention = []
    if with_attention:
        stacked = torch.stack(weights, dim=1).cpu()  # (batch, tgt_len, src_len)
        attention = [
            stacked[i, :length, : len(source)]
            for i, (length, source) in enumerate(zip(lengths, sources, strict=True))
        ]
    return log_probs, attention


def alignment_counts(
    model: Searchable,
    pairs: Sequence[tuple[list[int], list[int]]],
    src_vocab: int,
    tgt_vocab: int,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """(src_vocab, tgt_vocab) counts of target pieces attending most to a source piece under
    forced decoding, and each target piece's count."""
    counts = np.zeros((src_vocab, tgt_vocab), dtype=np.int64)
    tgt_frequency = np.zeros(tgt_vocab, dtype=np.int64)
    order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]))
    for first in range(0, len(order), batch_size):
        batch = [pairs[i] for i in order[first : first + batch_size]]
        _, attention = forced_decode(
            model, [s for s, _ in batch], [t for _, t in batch], with_attention=True
        )
        for (source, target), weights in zip(batch, attention, strict=True):
            aligned = np.asarray(source)[weights[: len(target)].argmax(1).numpy()]
            np.add.at(counts, (aligned, np.asarray(target)), 1)
            np.add.at(tgt_frequency, np.asarray(target), 1)
    return counts, tgt_frequency
