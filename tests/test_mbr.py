"""MBR selection: our chrF equals sacrebleu's, and selection follows the expected utility."""

from __future__ import annotations

import random

import pytest
from sacrebleu.metrics import CHRF

from nmt.mbr import expected_chrf, mbr_order, sampled_mbr_order

PAIRS = [
    ("El gato duerme en el sofá.", "El gato está durmiendo en el sofá."),
    ("The cat sleeps.", "A dog barks loudly at night."),
    ("a", "a"),
    ("ab", "abcdefgh"),  # the hypothesis has no n-grams above order 2
    ("", "something"),
    ("something", ""),
    ("", ""),
    ("¿Dónde está la estación?", "¿ Dónde   está la estación ?"),  # spaces do not count
    ("aaaa aaaa", "aa"),  # repeated n-grams are clipped
]


@pytest.mark.parametrize(("hypothesis", "reference"), PAIRS)
def test_chrf_equals_sacrebleu_sentence_chrf(hypothesis: str, reference: str) -> None:
    expected = CHRF().sentence_score(hypothesis, [reference]).score
    (ours,) = expected_chrf([hypothesis], [reference])
    assert ours == pytest.approx(expected, abs=1e-9)


def test_chrf_equals_sacrebleu_on_random_text() -> None:
    rng = random.Random(0)
    alphabet = "abcde fgh,."
    metric = CHRF()
    for _ in range(200):
        hypothesis = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        reference = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        expected = metric.sentence_score(hypothesis, [reference]).score
        (ours,) = expected_chrf([hypothesis], [reference])
        assert ours == pytest.approx(expected, abs=1e-9)


def test_expected_chrf_equals_weighted_sacrebleu_on_random_sets() -> None:
    """The tensor computation against sacrebleu pair by pair, empty and repeated texts included."""
    rng = random.Random(1)
    alphabet = "abc de,."
    metric = CHRF()
    for _ in range(30):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(6)]
        candidates, references = texts[:4], [*texts[2:], texts[2]]
        weights = [rng.random() for _ in references]
        expected = [
            sum(
                w * metric.sentence_score(c, [r]).score
                for w, r in zip(weights, references, strict=True)
            )
            / sum(weights)
            for c in candidates
        ]
        assert expected_chrf(candidates, references, weights) == pytest.approx(expected, abs=1e-9)
    assert expected_chrf(["", ""], [""]) == [0.0, 0.0]


def test_consensus_candidate_wins_among_equally_likely_ones() -> None:
    candidates = [
        "The president met the prime minister.",
        "Xyzzy.",  # an outlier the others do not support
        "The president met the prime minister today.",
        "The president met with the prime minister.",
    ]
    order = mbr_order(candidates, [0.0, 0.0, 0.0, 0.0])
    assert order[-1] == 1
    expected = expected_chrf(candidates, candidates)
    metric = CHRF()
    # uniform weights: the mean of sacrebleu's chrF against every candidate, itself included
    for i, candidate in enumerate(candidates):
        mean = sum(metric.sentence_score(candidate, [other]).score for other in candidates) / 4
        assert expected[i] == pytest.approx(mean, abs=1e-9)


def test_a_dominant_candidate_is_kept() -> None:
    candidates = ["Xyzzy.", "The president met the prime minister.", "The president met him."]
    assert mbr_order(candidates, [0.0, -20.0, -20.0])[0] == 0


def test_duplicates_count_as_agreement() -> None:
    candidates = ["one two three", "uno dos tres", "uno dos tres"]
    assert mbr_order(candidates, [0.0, -0.5, -0.5])[0] == 1


def test_scores_must_match_candidates() -> None:
    with pytest.raises(ValueError, match="3 candidates but 2 scores"):
        mbr_order(["a", "b", "c"], [0.0, 0.0])
    with pytest.raises(ValueError, match="2 references but 1 weights"):
        expected_chrf(["a"], ["a", "b"], [1.0])
    assert mbr_order([], []) == []


def test_sampled_mbr_takes_the_mean_chrf_against_the_samples() -> None:
    """Candidates need not be samples; repeated samples weigh as often as they were drawn."""
    candidates = ["The cat sleeps on the sofa.", "A cat is sleeping.", "Sofa."]
    samples = ["The cat sleeps on the couch.", "The cat sleeps on the sofa.", "Sofa.", "Sofa."]
    metric = CHRF()
    means = [
        sum(metric.sentence_score(c, [s]).score for s in samples) / len(samples) for c in candidates
    ]
    assert expected_chrf(candidates, samples) == pytest.approx(means, abs=1e-9)
    order = sampled_mbr_order(candidates, samples)
    assert order == sorted(range(3), key=lambda i: -means[i])
    # doubling "Sofa." in the samples moves it ahead of the sentence the others support
    assert sampled_mbr_order(candidates, [*samples, "Sofa.", "Sofa."])[0] == 2
    assert sampled_mbr_order(candidates, samples[:2])[0] == 0
