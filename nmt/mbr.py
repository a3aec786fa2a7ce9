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


def expected_chrf(texts: Sequence[str], scores: Sequence[float]) -> list[float]:
    """Each candidate's chrF against all the candidates, weighted by softmax(scores).

    ``scores`` are the model's log-probability scores of the candidates (the translator passes
    the beam's length-normalised ones); ``exp`` turns them into relative weights. A candidate
    counts as its own pseudo-reference too (chrF 100 with itself, unless empty), so MBR keeps a
    clear favourite of the model; among near-equal candidates the one closest to the rest wins.
    """
    if len(texts) != len(scores):
        raise ValueError(f"{len(texts)} candidates but {len(scores)} scores")
    if not texts:
        return []
    top = max(scores)
    weights = [math.exp(score - top) for score in scores]
    total = sum(weights)
    ngrams = [CharNgrams.of(text) for text in texts]
    return [
        sum(
            weight * chrf(candidate, reference)
            for weight, reference in zip(weights, ngrams, strict=True)
        )
        / total
        for candidate in ngrams
    ]


def mbr_order(texts: Sequence[str], scores: Sequence[float]) -> list[int]:
    """Indices of ``texts`` by expected chrF, best first (ties: the model's order)."""
    expected = expected_chrf(texts, scores)
    return sorted(range(len(texts)), key=lambda i: -expected[i])
