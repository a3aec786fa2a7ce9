"""Greedy and beam search over a :class:`~nmt.model.Seq2Seq`, batched over (batch x beam).

The searches work on one flat row dimension: greedy has one row per active sentence, sampling
one per sample, beam search ``beam_size`` rows per active sentence (sentence-major: rows
``b*k .. b*k+k-1`` belong to sentence ``b``). The decoder state is reordered by index with
:meth:`DecoderState.select` every step. In beam search the encoder output keeps one row per
sentence (a sentence's beams are its attention queries) and is selected only when whole sentences
finish and leave the batch, so later steps run on fewer rows. The search never asks which cell,
attention or decoder variant the model uses: ``step`` hides that.

Lengths and scores, shared by the searches:

* A sentence of ``n`` source pieces gets at most ``floor(a*n + b)`` target pieces (at least 1,
  at most ``max_output_len``), then EOS is forced. With ``min_len_a`` > 0 it gets at least
  ``floor(min_len_a*n)`` (never more than the maximum): EOS is blocked before that. A model
  trained on one sentence a line tends to stop at a period inside a sentence ("356 a. C.", "en el
  minuto 81.") or early in a headline; the minimum keeps it going.
* A hypothesis' tokens exclude BOS and EOS; its score includes the log-probability of EOS.
* Beam search ranks finished hypotheses by ``sum(log p) / lp`` with the GNMT length penalty
  ``lp = ((5 + L) / 6) ** alpha``, where ``L`` counts the tokens and EOS; greedy reports the plain
  sum of log-probabilities.
* With a coverage penalty ``beta`` > 0, beam search adds ``beta * sum_i log(min(c_i, 1))`` to a
  finished hypothesis' score, where ``c_i`` is the attention source piece ``i`` received over all
  its steps (GNMT): hypotheses that left source pieces unattended, i.e. untranslated, rank lower.
* With ``no_repeat_ngram = n`` (>= 2), a row may not emit a token that would repeat an n-gram of
  target pieces it already holds; an under-trained RNN otherwise falls into loops ("2020 para
  2020 para ...") on long or out-of-domain input.
* Every sentence gets at least one hypothesis. A NaN log-probability (weights that diverged in
  training) counts as -inf, impossible; a sentence left with no continuation of finite score
  ends at once with the tokens it has (greedy and sampling: its row's; beam search: its best
  beam's), scored -inf, and the search warns (RuntimeWarning). Callers that drop a sentence
  without a hypothesis would otherwise lose a line of output.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.model import DecoderState, EncoderOutput, Seq2Seq
from nmt.tokenizer import BOS_ID, EOS_ID, PAD_ID

MAX_OUTPUT_LEN = 256  # hard cap on target pieces, whatever max_len_a and max_len_b allow


@dataclass
class Hypothesis:
    """One translation of one source sentence, in target ids."""

    tokens: list[int]  # without BOS and EOS
    score: float
    attention: Tensor  # (len(tokens), src_len) on the CPU: the weights of each emitted token


def max_output_lengths(
    src_lengths: Tensor, max_len_a: float, max_len_b: int, max_output_len: int = MAX_OUTPUT_LEN
) -> Tensor:
    """Per-sentence limit on target pieces: floor(a * src_len + b), clamped to [1, max_output_len]."""
    limits = torch.floor(src_lengths.double() * max_len_a + max_len_b).long()
    return limits.clamp(1, max_output_len)  # (batch,)


def min_output_lengths(src_lengths: Tensor, min_len_a: float, limits: Tensor) -> Tensor:
    """Per-sentence minimum of target pieces: floor(min_len_a * src_len), at most ``limits``."""
    return torch.floor(src_lengths.double() * min_len_a).long().clamp(max=limits)  # (batch,)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al., 2016); 1 when alpha is 0."""
    return ((5.0 + length) / 6.0) ** alpha


def coverage_penalty(attention: Tensor, src_lengths: Tensor, beta: float) -> Tensor:
    """GNMT's ``beta * sum_i log(min(c_i, 1))`` for (n, steps, src_len) attention weights: 0 when
    every real source piece got a total weight of 1 or more, negative for the neglected ones."""
    coverage = attention.float().sum(dim=1).clamp(min=1e-6, max=1.0)  # (n, src_len)
    real = torch.arange(attention.size(2), device=attention.device) < src_lengths.unsqueeze(1)
    return beta * coverage.log().masked_fill(~real, 0.0).sum(dim=1)


@torch.inference_mode()
def greedy_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    max_len_a: float,
    max_len_b: int,
    max_output_len: int = MAX_OUTPUT_LEN,
    no_repeat_ngram: int = 0,
    min_len_a: float = 0.0,
) -> list[Hypothesis]:
    """The argmax token at every step, for (batch, src_len) ids; one hypothesis per sentence."""
    if src.size(0) == 0:
        return []
    with _eval_mode(model):
        encoded, state = model.encode(src, src_lengths)
        hypotheses = _row_search(
            model,
            encoded,
            state,
            src_lengths,
            max_output_lengths(src_lengths, max_len_a, max_len_b, max_output_len),
            min_len_a,
            no_repeat_ngram,
            _argmax,
        )
    _warn_if_unscored([[h] for h in hypotheses])
    return hypotheses


@torch.inference_mode()
def sample_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    num_samples: int,
    epsilon: float,
    max_len_a: float,
    max_len_b: int,
    max_output_len: int = MAX_OUTPUT_LEN,
    no_repeat_ngram: int = 0,
    min_len_a: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[list[Hypothesis]]:
    """``num_samples`` translations of each (batch, src_len) sentence, drawn from the model.

    Epsilon sampling (Hewitt et al., 2022): each step draws from the tokens of probability at
    least ``epsilon`` (the most probable one always stays), renormalised; 0 samples the full
    distribution. The samples are the pseudo-references of sampling MBR (Freitag et al., 2023):
    unlike a beam's candidates, they spread over what the model finds likely. A hypothesis'
    score is its model log-probability, as in greedy search. The source is encoded once; each
    sentence's samples are rows ``b*n .. b*n+n-1`` of one flat search.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    if not 0 <= epsilon < 1:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
    batch = src.size(0)
    if batch == 0:
        return []
    with _eval_mode(model):
        encoded, state = model.encode(src, src_lengths)
        rows = torch.arange(batch, device=src.device).repeat_interleave(num_samples)
        lengths = src_lengths[rows]
        samples = _row_search(
            model,
            encoded.select(rows),
            state.select(rows),
            lengths,
            max_output_lengths(lengths, max_len_a, max_len_b, max_output_len),
            min_len_a,
            no_repeat_ngram,
            lambda log_probs: _epsilon_sample(log_probs, epsilon, generator),
        )
    found = [samples[b * num_samples : (b + 1) * num_samples] for b in range(batch)]
    _warn_if_unscored(found)
    return found


def _argmax(log_probs: Tensor) -> Tensor:
    return log_probs.argmax(dim=-1)


def _epsilon_sample(log_probs: Tensor, epsilon: float, generator: torch.Generator | None) -> Tensor:
    """One token per row among those of probability >= epsilon (and the argmax)."""
    probs = log_probs.float().exp()
    keep = probs >= epsilon
    keep.scatter_(1, probs.argmax(dim=1, keepdim=True), True)
    return torch.multinomial(probs * keep, 1, generator=generator).squeeze(1)  # (rows,)


def _row_search(
    model: Seq2Seq,
    encoded: EncoderOutput,
    state: DecoderState,
    src_lengths: Tensor,
    limit: Tensor,
    min_len_a: float,
    no_repeat_ngram: int,
    pick: Callable[[Tensor], Tensor],
) -> list[Hypothesis]:
    """One token per row and step, chosen by ``pick`` from the row's log-probabilities; rows
    leave the batch as they end. One hypothesis per row, in row order."""
    rows = src_lengths.size(0)
    device = src_lengths.device
    limits = limit.tolist()
    minimum = min_output_lengths(src_lengths, min_len_a, limit)  # (active,)
    min_steps = int(minimum.max())  # no EOS to block from this step on: no check, no sync
    row = torch.arange(rows, device=device)  # (active,) original index of each row
    prev = torch.full((rows,), BOS_ID, dtype=torch.long, device=device)
    scores = torch.zeros(rows, device=device)
    history = prev.new_zeros(rows, 0)  # (active, t) tokens so far
    attention = encoded.memory.new_zeros(rows, 0, encoded.memory.size(1))  # (active, t, src_len)
    results: list[Hypothesis | None] = [None] * rows
    lengths = src_lengths.tolist()
    for t in range(max(limits) + 1):
        log_probs, weights, state = model.step(prev, encoded, state)  # (active, V), (active, S)
        _nan_is_impossible(log_probs)
        _block_specials(log_probs)
        _block_repeats(log_probs, history, no_repeat_ngram)
        if t < min_steps:
            _block_eos(log_probs, t < minimum)
        _force_eos(log_probs, t >= limit)
        # a row with no token of finite score left ends here, scored -inf (pick gets a harmless
        # uniform row instead: sampling cannot draw from one without probability)
        stuck = ~log_probs.isfinite().any(dim=1)  # (active,)
        token = pick(log_probs.masked_fill(stuck.unsqueeze(1), 0.0)).masked_fill(stuck, EOS_ID)
        scores = scores + log_probs.gather(1, token.unsqueeze(1)).squeeze(1)
        ended = token == EOS_ID
        if bool(ended.any()):
            ended_rows = ended.nonzero().squeeze(1)
            ids = row[ended_rows]
            for index, hypothesis in zip(
                ids.tolist(),
                _hypotheses(history, attention, ended_rows, scores[ended_rows], ids, t, lengths),
                strict=True,
            ):
                results[index] = hypothesis
            keep = (~ended).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            encoded, state = encoded.select(keep), state.select(keep)
            token, weights, scores = token[keep], weights[keep], scores[keep]
            history, attention = history[keep], attention[keep]
            row, limit, minimum = row[keep], limit[keep], minimum[keep]
        history = torch.cat([history, token.unsqueeze(1)], dim=1)
        attention = torch.cat([attention, weights.unsqueeze(1)], dim=1)
        prev = token
    return [hypothesis for hypothesis in results if hypothesis is not None]


@torch.inference_mode()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    beam_size: int,
    length_penalty: float,
    max_len_a: float,
    max_len_b: int,
    n_best: int = 1,
    max_output_len: int = MAX_OUTPUT_LEN,
    no_repeat_ngram: int = 0,
    coverage_beta: float = 0.0,
    min_len_a: float = 0.0,
) -> list[list[Hypothesis]]:
    """The ``n_best`` best hypotheses of each (batch, src_len) sentence, best first.

    A sentence is finished once ``beam_size`` hypotheses have ended in EOS (the first ones that
    ranked among the beam's top ``beam_size`` candidates of a step) or its length limit is reached.
    An n-best list is shorter than ``n_best`` only when fewer hypotheses can exist (tiny limits),
    and never empty (see the module doc on scores of -inf).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be between 1 and beam_size ({beam_size}), got {n_best}")
    if src.size(0) == 0:
        return []
    with _eval_mode(model):
        found = _beam_search(
            model,
            src,
            src_lengths,
            beam_size,
            length_penalty,
            max_len_a,
            max_len_b,
            n_best,
            max_output_len,
            no_repeat_ngram,
            coverage_beta,
            min_len_a,
        )
    _warn_if_unscored(found)
    return found


def _beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    k: int,
    alpha: float,
    max_len_a: float,
    max_len_b: int,
    n_best: int,
    max_output_len: int,
    no_repeat_ngram: int,
    beta: float,
    min_len_a: float,
) -> list[list[Hypothesis]]:
    device = src.device
    batch = src.size(0)
    limits = max_output_lengths(src_lengths, max_len_a, max_len_b, max_output_len).tolist()
    lengths = src_lengths.tolist()
    encoded, state = model.encode(src, src_lengths)  # encoded keeps one row per sentence
    state = state.select(torch.arange(batch, device=device).repeat_interleave(k))  # (batch*k,)

    sentence = torch.arange(batch, device=device)  # (active,) original index of each sentence
    limit = torch.tensor(limits, device=device)  # (active,)
    minimum = min_output_lengths(src_lengths, min_len_a, limit)  # (active,)
    min_steps = int(minimum.max())  # no EOS to block from this step on: no check, no sync
    # (active, k) cumulative log-probs; only beam 0 is live at first, so the first step's
    # candidates are not k copies of the same tokens
    scores = torch.full((batch, k), -math.inf, device=device)
    scores[:, 0] = 0.0
    prev = src.new_full((batch * k,), BOS_ID)
    history = src.new_zeros(batch * k, 0)  # (active*k, t)
    attention = encoded.memory.new_zeros(batch * k, 0, src.size(1))  # (active*k, t, src_len)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    n_finished = torch.zeros(batch, dtype=torch.long, device=device)  # (active,)

    for t in range(max(limits) + 1):
        log_probs, weights, state = model.step(prev, encoded, state)  # (active*k, V), (.., S)
        _nan_is_impossible(log_probs)
        _block_specials(log_probs)
        _block_repeats(log_probs, history, no_repeat_ngram)
        if t < min_steps:
            _block_eos(log_probs, (t < minimum).repeat_interleave(k))
        _force_eos(log_probs, (t >= limit).repeat_interleave(k))
        active, vocab = scores.size(0), log_probs.size(1)
        candidates = log_probs.add_(scores.view(-1, 1)).view(active, k * vocab)  # in place
        # 2k candidates: at most k of them end in EOS (one EOS per beam), so k others continue
        top_scores, top_ids = candidates.topk(min(2 * k, k * vocab), dim=1)  # (active, 2k)
        origin = top_ids // vocab  # (active, 2k) beam each candidate extends
        token = top_ids % vocab
        is_eos = token == EOS_ID

        # Finished: EOS candidates among the top k that could still have been in the beam.
        ends = is_eos[:, :k] & torch.isfinite(top_scores[:, :k])  # (active, k)
        if bool(ends.any()):
            where = ends.nonzero()  # (n_ended, 2): sentence row, candidate position
            b, j = where[:, 0], where[:, 1]
            ended_rows = b * k + origin[b, j]
            ids = sentence[b]
            normalised = top_scores[b, j] / length_penalty(t + 1, alpha)
            if beta > 0:  # the attention of all t tokens and of EOS
                received = torch.cat([attention[ended_rows], weights[ended_rows, None]], dim=1)
                normalised = normalised + coverage_penalty(received, src_lengths[ids], beta)
            for index, hypothesis in zip(
                ids.tolist(),
                _hypotheses(history, attention, ended_rows, normalised, ids, t, lengths),
                strict=True,
            ):
                if len(finished[index]) < k:  # candidates come best first
                    finished[index].append(hypothesis)
            n_finished = n_finished + ends.sum(dim=1)

        # done: k hypotheses, the length limit, or no candidate of finite score left
        done = (n_finished >= k) | (t >= limit) | (top_scores[:, 0] == -math.inf)  # (active,)
        # The first k non-EOS candidates of each sentence, in score order.
        order = is_eos.long() * (2 * k) + torch.arange(top_ids.size(1), device=device)
        keep_candidates = order.topk(k, dim=1, largest=False).indices  # (active, k)
        keep = (~done).nonzero().squeeze(1)  # (still_active,)
        if keep.numel() < active:
            # a sentence that ends without a finished hypothesis gets its best beam (beam 0:
            # beams are kept in score order) as it stands, scored -inf
            gone = done.nonzero().squeeze(1)
            empty = [i for i, index in enumerate(sentence[gone].tolist()) if not finished[index]]
            if empty:
                rows, ids = gone[empty] * k, sentence[gone[empty]]
                unscored = torch.full((len(empty),), -math.inf)
                for index, hypothesis in zip(
                    ids.tolist(),
                    _hypotheses(history, attention, rows, unscored, ids, t, lengths),
                    strict=True,
                ):
                    finished[index].append(hypothesis)
        if keep.numel() == 0:
            break
        chosen = keep_candidates[keep]  # (still_active, k)
        new_rows = (keep * k).unsqueeze(1) + origin[keep].gather(1, chosen)  # (still_active, k)
        new_rows = new_rows.view(-1)
        state = state.select(new_rows)
        if keep.numel() < active:
            encoded = encoded.select(keep)
            sentence, limit, n_finished = sentence[keep], limit[keep], n_finished[keep]
            minimum = minimum[keep]
        scores = top_scores[keep].gather(1, chosen)  # (still_active, k)
        prev = token[keep].gather(1, chosen).view(-1)
        history = torch.cat([history[new_rows], prev.unsqueeze(1)], dim=1)
        attention = torch.cat([attention[new_rows], weights[new_rows].unsqueeze(1)], dim=1)

    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


def _nan_is_impossible(log_probs: Tensor) -> None:
    """NaN log-probabilities (a model whose weights diverged) become -inf: never chosen, and
    comparable, where NaN would win every max and top-k."""
    log_probs.masked_fill_(log_probs.isnan(), -math.inf)


def _warn_if_unscored(found: list[list[Hypothesis]]) -> None:
    """Warn when a sentence's best hypothesis scores -inf: the model gave its output no
    probability, so the translation is a placeholder, not the model's answer."""
    unscored = sum(max(h.score for h in hypotheses) == -math.inf for hypotheses in found)
    if unscored:
        warnings.warn(
            f"{unscored} of {len(found)} sentences got no translation with a finite score: the "
            "model's probabilities are NaN or zero (did its training diverge? see the loss in "
            "train_log.jsonl); each gets the tokens found so far, often none, scored -inf",
            RuntimeWarning,
            stacklevel=2,
        )


def _block_specials(log_probs: Tensor) -> None:
    """PAD and BOS are never generated."""
    log_probs[:, PAD_ID] = -math.inf
    log_probs[:, BOS_ID] = -math.inf


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


def _hypotheses(
    history: Tensor,
    attention: Tensor,
    rows: Tensor,
    scores: Tensor,
    sentences: Tensor,
    length: int,
    src_lengths: list[int],
) -> Iterator[Hypothesis]:
    """Hypotheses for ``rows`` that emitted EOS after ``length`` tokens; one transfer to the CPU."""
    tokens = history[rows].tolist()  # (n, length)
    weights = attention[rows].cpu()  # (n, length, src_len)
    for i, (score, index) in enumerate(zip(scores.tolist(), sentences.tolist(), strict=True)):
        yield Hypothesis(tokens[i], score, weights[i, :, : src_lengths[index]])


@contextlib.contextmanager
def _eval_mode(model: Seq2Seq) -> Iterator[None]:
    """No dropout while searching; a model that was training (validation) goes back to training."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)
