"""Greedy search, sampling and beam search over a model, batched over (batch x beam).

:class:`Search` is built once from the decoding settings and called on padded batches; it picks
the search the settings ask for and owns the rules every search obeys and the one scorer
(:mod:`nmt.search_rules`, which states the length and score contract).

The searches work on one flat row dimension: greedy has one row per active sentence, sampling
one per sample, beam search ``beam_size`` rows per active sentence (sentence-major: rows
``b*k .. b*k+k-1`` belong to sentence ``b``). The decoder state is reordered by index with its
``select`` every step. In beam search the encoder output keeps one row per sentence (a
sentence's beams are its attention queries) and is selected only when whole sentences finish
and leave the batch, so later steps run on fewer rows. The search never asks which cell,
attention or decoder variant the model uses, nor whether it is one model or an ensemble
(:mod:`nmt.ensemble`): ``encode`` and ``step`` hide that.

Every sentence gets at least one hypothesis. A sentence left with no continuation of finite
score ends at once with the tokens it has (greedy and sampling: its row's; beam search: its best
beam's), scored -inf, and the search warns (RuntimeWarning): callers that drop a sentence without
a hypothesis would otherwise lose a line of output.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from nmt.constants import BOS_ID, EOS_ID
from nmt.decoding import DecodingConfig
from nmt.search_rules import MAX_OUTPUT_LEN, Scorer, StepRules


class Searchable(Protocol):
    """What a search asks of a model (:class:`~nmt.model.Seq2Seq` or an ensemble)."""

    training: bool

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Any, Any]: ...

    def step(self, prev_tokens: Tensor, encoded: Any, state: Any) -> tuple[Tensor, Tensor, Any]: ...

    def train(self, mode: bool = True) -> Any: ...


@dataclass
class Hypothesis:
    """One translation of one source sentence, in target ids."""

    tokens: list[int]  # without BOS and EOS
    score: float  # see nmt.search_rules
    attention: Tensor  # (len(tokens), src_len) on the CPU: the weights of each emitted token


class Search:
    """The search ``settings`` ask for: greedy (beam size 1), beam search, sampling
    (``sampling``), and for MBR the candidates (the whole beam, plus ``mbr_samples`` samples)."""

    def __init__(self, settings: DecodingConfig, max_output_len: int = MAX_OUTPUT_LEN) -> None:
        settings.check()
        self.settings = settings
        self.rules = StepRules(
            settings.max_len_a,
            settings.max_len_b,
            settings.min_len_a,
            settings.no_repeat_ngram,
            max_output_len,
        )
        self.scorer = Scorer(settings.length_penalty, settings.coverage_penalty)

    def __call__(
        self, model: Searchable, src: Tensor, src_lengths: Tensor
    ) -> list[list[Hypothesis]]:
        """Hypotheses of each (batch, src_len) sentence, best first (MBR: candidates, unsorted)."""
        settings = self.settings
        if settings.sampling != "none":
            found = self.sample(model, src, src_lengths)
        elif settings.beam_size == 1:
            found = [[h] for h in self.greedy(model, src, src_lengths)]
        else:
            found = self.beam(model, src, src_lengths)
        if settings.mbr and settings.mbr_samples:
            samples = self.sample(model, src, src_lengths, settings.mbr_samples, "epsilon")
            found = [candidates + drawn for candidates, drawn in zip(found, samples, strict=True)]
        return found

    def greedy(self, model: Searchable, src: Tensor, src_lengths: Tensor) -> list[Hypothesis]:
        """The argmax token at every step; one hypothesis per sentence."""
        return self._searching(model, src, lambda: self._rows(model, src, src_lengths, 1, _argmax))

    def beam(self, model: Searchable, src: Tensor, src_lengths: Tensor) -> list[list[Hypothesis]]:
        """Beam search of width ``beam_size``: the ``n_best`` best (MBR: the whole beam)."""
        k = self.settings.beam_size
        n_best = k if self.settings.mbr else self.settings.n_best
        return self._searching(
            model, src, lambda: _beam_search(model, src, src_lengths, k, n_best, self)
        )

    def sample(
        self,
        model: Searchable,
        src: Tensor,
        src_lengths: Tensor,
        count: int | None = None,
        sampler: str | None = None,
    ) -> list[list[Hypothesis]]:
        """``count`` (default ``n_best``) translations of each sentence drawn from the model with
        ``sampler`` (default ``sampling``): rows ``b*count .. b*count+count-1`` of one flat search
        over a source encoded once. The generator is seeded for every batch, so a batch's samples
        do not depend on what was translated before."""
        settings = self.settings
        count = settings.n_best if count is None else count
        generator = torch.Generator(device=src.device).manual_seed(settings.seed)
        pick = _sampler(sampler or settings.sampling, settings, generator)

        def draw() -> list[list[Hypothesis]]:
            samples = self._rows(model, src, src_lengths, count, pick)
            return [samples[b * count : (b + 1) * count] for b in range(src.size(0))]

        return self._searching(model, src, draw)

    @staticmethod
    def _searching(model: Searchable, src: Tensor, search: Callable[[], list[Any]]) -> list[Any]:
        """Run ``search`` without autograd and in eval mode; warn about unscored sentences."""
        if src.size(0) == 0:
            return []
        with torch.inference_mode(), eval_mode(model):
            found = search()
        _warn_if_unscored([h if isinstance(h, list) else [h] for h in found])
        return found

    def _rows(
        self,
        model: Searchable,
        src: Tensor,
        src_lengths: Tensor,
        per_sentence: int,
        pick: Callable[[Tensor], Tensor],
    ) -> list[Hypothesis]:
        """One token per row and step, chosen by ``pick`` from the row's log-probabilities; rows
        leave the batch as they end. ``per_sentence`` rows per sentence; hypotheses in row order."""
        encoded, state = model.encode(src, src_lengths)
        if per_sentence > 1:
            index = torch.arange(src.size(0), device=src.device).repeat_interleave(per_sentence)
            encoded, state, src_lengths = (
                encoded.select(index),
                state.select(index),
                src_lengths[index],
            )
        rows = src_lengths.size(0)
        device = src_lengths.device
        limit, minimum = self.rules.limits(src_lengths)  # (active,) each
        limits = limit.tolist()
        min_steps = int(minimum.max())
        row = torch.arange(rows, device=device)  # (active,) original index of each row
        prev = torch.full((rows,), BOS_ID, dtype=torch.long, device=device)
        scores = torch.zeros(rows, device=device)
        history = prev.new_zeros(rows, 0)  # (active, t) tokens so far
        attention: Tensor | None = None  # (active, t, src_len), from the first step's weights
        results: list[Hypothesis | None] = [None] * rows
        lengths = src_lengths.tolist()
        for t in range(max(limits) + 1):
            log_probs, weights, state = model.step(prev, encoded, state)  # (active, V), (active, S)
            if attention is None:
                attention = weights.new_zeros(rows, 0, weights.size(1))
            self.rules.apply(log_probs, t, history, limit, minimum, min_steps)
            token = pick(log_probs)
            scores = scores + log_probs.gather(1, token.unsqueeze(1)).squeeze(1)
            ended = token == EOS_ID
            if bool(ended.any()):
                ended_rows = ended.nonzero().squeeze(1)
                ids = row[ended_rows]
                final = self._final_scores(
                    scores[ended_rows], t, attention, weights, ended_rows, src_lengths[ids]
                )
                for index, hypothesis in zip(
                    ids.tolist(),
                    _hypotheses(history, attention, ended_rows, final, ids, t, lengths),
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

    def _final_scores(
        self,
        log_prob: Tensor,
        t: int,
        attention: Tensor,
        weights: Tensor,
        rows: Tensor,
        src_lengths: Tensor,
    ) -> Tensor:
        """Scores of ``rows`` ending in EOS at step ``t``; the coverage penalty, if any, counts
        the attention of all t tokens and of EOS."""
        received = None
        if self.scorer.needs_attention:
            received = torch.cat([attention[rows], weights[rows, None]], dim=1)
        return self.scorer(log_prob, t, received, src_lengths)


# A pick chooses each row's token from its (rows, vocab) log-probabilities. A row with no token
# of finite score left ends: it gets EOS, scored -inf.


def _argmax(log_probs: Tensor) -> Tensor:
    best, token = log_probs.max(dim=-1)
    # stuck rows found from the maxima: a whole-matrix isfinite().any() cost 3x the max itself
    return token.masked_fill(best == -math.inf, EOS_ID)


def _sampler(
    kind: str, settings: DecodingConfig, generator: torch.Generator
) -> Callable[[Tensor], Tensor]:
    """A ``pick`` that draws one token per row: among the ``sampling_topk`` most probable
    (top-k), the smallest set holding ``sampling_topp`` of the probability (nucleus, Holtzman et
    al., 2020), or those of probability >= ``sampling_epsilon`` (Hewitt et al., 2022); the most
    probable token always stays. Probabilities are at ``temperature``; scores stay the model's."""

    def pick(log_probs: Tensor) -> Tensor:
        # a stuck row draws from a harmless uniform row instead: multinomial needs probability
        stuck = ~log_probs.isfinite().any(dim=1)  # (rows,)
        log_probs = log_probs.masked_fill(stuck.unsqueeze(1), 0.0)
        if settings.temperature == 1.0:
            probs = log_probs.float().exp()
        else:
            probs = torch.softmax(log_probs.float() / settings.temperature, dim=-1)
        if kind == "topk":
            k = min(settings.sampling_topk, probs.size(1))
            threshold = probs.topk(k, dim=1).values[:, -1:]  # (rows, 1) the k-th probability
            keep = probs >= threshold
        elif kind == "topp":
            sorted_probs, order = probs.sort(dim=1, descending=True)
            before = sorted_probs.cumsum(dim=1) - sorted_probs  # mass of the more probable ones
            keep = torch.zeros_like(probs, dtype=torch.bool)
            keep.scatter_(1, order, before < settings.sampling_topp * probs.sum(1, keepdim=True))
        else:
            keep = probs >= settings.sampling_epsilon
        keep.scatter_(1, probs.argmax(dim=1, keepdim=True), True)
        token = torch.multinomial(probs * keep, 1, generator=generator).squeeze(1)  # (rows,)
        return token.masked_fill(stuck, EOS_ID)

    return pick


def _beam_search(
    model: Searchable, src: Tensor, src_lengths: Tensor, k: int, n_best: int, search: Search
) -> list[list[Hypothesis]]:
    """The ``n_best`` best hypotheses of each sentence, best first.

    A sentence is finished once ``k`` hypotheses have ended in EOS (the first ones that ranked
    among the beam's top ``k`` candidates of a step) or its length limit is reached. An n-best
    list is shorter than ``n_best`` only when fewer hypotheses can exist (tiny limits), and never
    empty (see the module doc on scores of -inf).
    """
    device = src.device
    batch = src.size(0)
    limit, minimum = search.rules.limits(src_lengths)  # (active,) each
    limits = limit.tolist()
    lengths = src_lengths.tolist()
    encoded, state = model.encode(src, src_lengths)  # encoded keeps one row per sentence
    state = state.select(torch.arange(batch, device=device).repeat_interleave(k))  # (batch*k,)

    sentence = torch.arange(batch, device=device)  # (active,) original index of each sentence
    min_steps = int(minimum.max())
    # (active, k) cumulative log-probs; only beam 0 is live at first, so the first step's
    # candidates are not k copies of the same tokens
    scores = torch.full((batch, k), -math.inf, device=device)
    scores[:, 0] = 0.0
    prev = src.new_full((batch * k,), BOS_ID)
    history = src.new_zeros(batch * k, 0)  # (active*k, t)
    attention: Tensor | None = None  # (active*k, t, src_len), from the first step's weights
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    n_finished = torch.zeros(batch, dtype=torch.long, device=device)  # (active,)

    for t in range(max(limits) + 1):
        log_probs, weights, state = model.step(prev, encoded, state)  # (active*k, V), (.., S)
        if attention is None:
            attention = weights.new_zeros(batch * k, 0, weights.size(1))
        search.rules.apply(log_probs, t, history, limit, minimum, min_steps, k)
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
            final = search._final_scores(
                top_scores[b, j], t, attention, weights, ended_rows, src_lengths[ids]
            )
            for index, hypothesis in zip(
                ids.tolist(),
                _hypotheses(history, attention, ended_rows, final, ids, t, lengths),
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
            stacklevel=4,
        )


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
def eval_mode(model: Searchable) -> Iterator[None]:
    """No dropout while searching; a model that was training (validation) goes back to training."""
    training = model.training
    model.train(False)
    try:
        yield
    finally:
        model.train(training)
