"""What every search obeys at each step, and what a finished hypothesis' score means.

:class:`StepRules` and :class:`Scorer` are built once from the decoding settings and shared by
greedy search, sampling and beam search (:mod:`nmt.search`), so the three forbid the same tokens
and their scores can be compared, sorted together and fed to MBR:

* A sentence of ``n`` source pieces gets at most ``floor(a*n + b)`` target pieces (at least 1,
  at most ``max_output_len``), then EOS is forced. With ``min_len_a`` > 0 it gets at least
  ``floor(min_len_a*n)`` (never more than the maximum): EOS is blocked before that. A model
  trained on one sentence a line tends to stop at a period inside a sentence ("356 a. C.", "en el
  minuto 81.") or early in a headline; the minimum keeps it going.
* PAD and BOS are never generated. A NaN log-probability (weights that diverged in training)
  counts as -inf, impossible.
* With ``no_repeat_ngram = n`` (>= 2), a row may not emit a token that would repeat an n-gram of
  target pieces it already holds; an under-trained RNN otherwise falls into loops ("2020 para
  2020 para ...") on long or out-of-domain input.
* A hypothesis' tokens exclude BOS and EOS; its score is ``sum(log p) / lp``, the log-probability
  including EOS divided by the GNMT length penalty ``lp = ((5 + L) / 6) ** alpha``, where ``L``
  counts the tokens and EOS; with a coverage penalty ``beta`` > 0 it adds
  ``beta * sum_i log(min(c_i, 1))``, where ``c_i`` is the attention source piece ``i`` received
  over all steps (GNMT): hypotheses that left source pieces unattended rank lower.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nmt.constants import BOS_ID, EOS_ID, PAD_ID

MAX_OUTPUT_LEN = 256  # hard cap on target pieces, whatever max_len_a and max_len_b allow


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al., 2016); 1 when alpha is 0."""
    return ((5.0 + length) / 6.0) ** alpha


def coverage_penalty(attention: Tensor, src_lengths: Tensor, beta: float) -> Tensor:
    """GNMT's ``beta * sum_i log(min(c_i, 1))`` for (n, steps, src_len) attention weights: 0 when
    every real source piece got a total weight of 1 or more, negative for the neglected ones."""
    coverage = attention.float().sum(dim=1).clamp(min=1e-6, max=1.0)  # (n, src_len)
    real = torch.arange(attention.size(2), device=attention.device) < src_lengths.unsqueeze(1)
    return beta * coverage.log().masked_fill(~real, 0.0).sum(dim=1)


class Scorer:
    """Turns a finished hypothesis' summed log-probability into its score (module doc)."""

    def __init__(self, alpha: float, beta: float) -> None:
        self.alpha, self.beta = alpha, beta

    @property
    def needs_attention(self) -> bool:
        return self.beta > 0

    def __call__(
        self, log_prob: Tensor, length: int, attention: Tensor | None, src_lengths: Tensor
    ) -> Tensor:
        """Scores of hypotheses of ``length`` tokens plus EOS; ``attention`` (n, length + 1,
        src_len) is needed only when :attr:`needs_attention`."""
        score = log_prob / length_penalty(length + 1, self.alpha)
        if self.beta > 0:
            assert attention is not None
            score = score + coverage_penalty(attention, src_lengths, self.beta)
        return score


class StepRules:
    """The tokens a row may not emit at a step: specials, repeats, EOS before the minimum
    length, anything but EOS at the limit."""

    def __init__(
        self,
        max_len_a: float,
        max_len_b: int,
        min_len_a: float = 0.0,
        no_repeat_ngram: int = 0,
        max_output_len: int = MAX_OUTPUT_LEN,
    ) -> None:
        self.max_len_a, self.max_len_b, self.min_len_a = max_len_a, max_len_b, min_len_a
        self.no_repeat_ngram = no_repeat_ngram
        self.max_output_len = max_output_len

    def limits(self, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sentence (maximum, minimum) target pieces, each (batch,)."""
        maximum = max_output_lengths(
            src_lengths, self.max_len_a, self.max_len_b, self.max_output_len
        )
        return maximum, min_output_lengths(src_lengths, self.min_len_a, maximum)

    def apply(
        self,
        log_probs: Tensor,
        t: int,
        history: Tensor,
        limit: Tensor,
        minimum: Tensor,
        min_steps: int,
        rows_per_sentence: int = 1,
    ) -> None:
        """Forbid, in place, what step ``t`` may not emit. ``limit`` and ``minimum`` hold one
        value per sentence, ``log_probs`` and ``history`` ``rows_per_sentence`` rows each;
        ``min_steps`` is the largest minimum (no EOS to block from then on: no check, no sync)."""
        # one pass, in place (isnan + masked_fill_ took 17x longer on a 64 x 8,000 step)
        torch.nan_to_num_(log_probs, nan=-math.inf, posinf=math.inf, neginf=-math.inf)
        log_probs[:, PAD_ID] = -math.inf
        log_probs[:, BOS_ID] = -math.inf
        _block_repeats(log_probs, history, self.no_repeat_ngram)
        if t < min_steps:
            _block_eos(log_probs, _per_row(t < minimum, rows_per_sentence))
        _force_eos(log_probs, _per_row(t >= limit, rows_per_sentence))


def max_output_lengths(
    src_lengths: Tensor, max_len_a: float, max_len_b: int, max_output_len: int = MAX_OUTPUT_LEN
) -> Tensor:
    """Per-sentence limit on target pieces: floor(a * src_len + b), clamped to [1, max_output_len]."""
    limits = torch.floor(src_lengths.double() * max_len_a + max_len_b).long()
    return limits.clamp(1, max_output_len)  # (batch,)


def min_output_lengths(src_lengths: Tensor, min_len_a: float, limits: Tensor) -> Tensor:
    """Per-sentence minimum of target pieces: floor(min_len_a * src_len), at most ``limits``."""
    return torch.floor(src_lengths.double() * min_len_a).long().clamp(max=limits)  # (batch,)


def _per_row(per_sentence: Tensor, rows_per_sentence: int) -> Tensor:
    return (
        per_sentence
        if rows_per_sentence == 1
        else per_sentence.repeat_interleave(rows_per_sentence)
    )


def _block_repeats(log_probs: Tensor, history: Tensor, n: int) -> None:
    """Forbid each row the tokens that would complete an n-gram already in its ``history``.

    The row's last n-1 tokens are compared with every earlier (n-1)-gram at once; where they
    match, the token that followed that earlier (n-1)-gram gets -inf.
    """
    t = history.size(1)
    if n < 2 or t < n:
        return
    suffix = history[:, t - n + 1 :].unsqueeze(1)  # (rows, 1, n-1)
    windows = history[:, : t - 1].unfold(1, n - 1, 1)  # (rows, t-n+1, n-1) starting at 0..t-n
    match = (windows == suffix).all(dim=2)  # (rows, t-n+1)
    following = history[:, n - 1 :]  # (rows, t-n+1) the token after each window
    # unmatched windows point at PAD, which is blocked anyway
    log_probs.scatter_(1, following.masked_fill(~match, PAD_ID), -math.inf)


def _block_eos(log_probs: Tensor, too_short: Tensor) -> None:
    """Rows below their minimum length (bool (rows,)) may not emit EOS."""
    if bool(too_short.any()):
        log_probs[:, EOS_ID].masked_fill_(too_short, -math.inf)


def _force_eos(log_probs: Tensor, at_limit: Tensor) -> None:
    """Rows at their length limit (bool (rows,)) may only emit EOS; EOS keeps its log-prob."""
    if bool(at_limit.any()):
        eos = log_probs[:, EOS_ID].clone()
        log_probs.masked_fill_(at_limit.unsqueeze(1), -math.inf)
        log_probs[:, EOS_ID] = eos
