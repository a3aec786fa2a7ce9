"""Minimum Bayes risk (MBR) selection: of a sentence's candidate translations, keep the one the
others agree with most.

Why: beam search returns the most probable output, not the output with the best expected quality.
MBR (Kumar & Byrne, 2004; Freitag et al., 2022) treats the candidates, weighted by the model's
probabilities, as pseudo-references and keeps the candidate with the highest expected utility
against them. The utility here is chrF, exactly sacrebleu's sentence chrF (character 1..6-grams,
beta 2, spaces removed); the n-gram counts are made once per candidate, so k candidates cost k
counts and k*(k-1) cheap comparisons rather than k*(k-1) sacrebleu calls.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

CHAR_ORDER = 6  # sacrebleu's chrF defaults
BETA = 2


@dataclass(frozen=True)
class CharNgrams:
    """A text's character n-gram counts for n = 1 .. CHAR_ORDER, spaces removed."""

    counts: tuple[Counter[str], ...]
    totals: tuple[int, ...]

    @classmethod
    def of(cls, text: str, order: int = CHAR_ORDER) -> CharNgrams:
        chars = "".join(text.split())
        counts = tuple(
            Counter(chars[i : i + n] for i in range(len(chars) - n + 1))
            for n in range(1, order + 1)
        )
        return cls(counts, tuple(sum(c.values()) for c in counts))


def chrf(hypothesis: CharNgrams, reference: CharNgrams, beta: float = BETA) -> float:
    """Sentence chrF (0..100) as sacrebleu computes it: precision and recall are averaged over
    the orders that both texts have, then combined into an F-beta score."""
    precision = recall = 0.0
    orders = 0
    for hyp, hyp_total, ref, ref_total in zip(
        hypothesis.counts, hypothesis.totals, reference.counts, reference.totals, strict=True
    ):
        if not hyp_total or not ref_total:
            continue
        matches = sum(min(count, ref[gram]) for gram, count in hyp.items() if gram in ref)
        precision += matches / hyp_total
        recall += matches / ref_total
        orders += 1
    if not orders or not precision + recall:
        return 0.0
    precision, recall = precision / orders, recall / orders
    factor = beta**2
    return 100 * (1 + factor) * precision * recall / (factor * precision + recall)


def expected_chrf(
    candidates: Sequence[str], references: Sequence[str], weights: Sequence[float] | None = None
) -> list[float]:
    """Each candidate's chrF against the pseudo-``references``, averaged with ``weights``
    (default: uniform, as for samples drawn from the model).

    Repeated texts are counted once: samples repeat often, and n-gram counting is the cost.
    """
    if weights is None:
        weights = [1.0] * len(references)
    if len(weights) != len(references):
        raise ValueError(f"{len(references)} references but {len(weights)} weights")
    if not candidates:
        return []
    merged: dict[str, float] = {}
    for reference, weight in zip(references, weights, strict=True):
        merged[reference] = merged.get(reference, 0.0) + weight
    total = sum(merged.values())
    ngrams = {text: CharNgrams.of(text) for text in {*candidates, *merged}}
    utility = {
        text: sum(w * chrf(ngrams[text], ngrams[ref]) for ref, w in merged.items()) / total
        for text in set(candidates)
    }
    return [utility[text] for text in candidates]


def mbr_order(texts: Sequence[str], scores: Sequence[float]) -> list[int]:
    """Indices of a beam's candidates by expected chrF, best first (ties: the model's order).

    The candidates are their own pseudo-references, weighted by softmax(``scores``): ``exp``
    turns the model's log-probability scores into relative weights (the translator passes the
    beam's length-normalised ones). A candidate counts as its own pseudo-reference too (chrF 100
    with itself, unless empty), so MBR keeps a clear favourite of the model; among near-equal
    candidates the one closest to the rest wins.
    """
    if len(texts) != len(scores):
        raise ValueError(f"{len(texts)} candidates but {len(scores)} scores")
    if not texts:
        return []
    top = max(scores)
    expected = expected_chrf(texts, texts, [math.exp(score - top) for score in scores])
    return sorted(range(len(texts)), key=lambda i: -expected[i])


def sampled_mbr_order(candidates: Sequence[str], samples: Sequence[str]) -> list[int]:
    """Indices of ``candidates`` by mean chrF against ``samples`` drawn from the model, best
    first (ties: the given order): a Monte Carlo estimate of the expected utility."""
    expected = expected_chrf(candidates, samples)
    return sorted(range(len(candidates)), key=lambda i: -expected[i])
