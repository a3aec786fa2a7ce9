"""Scores for translations: BLEU, chrF, chrF++ and TER, exactly as sacrebleu computes them.

Every number comes from sacrebleu's Python API with its default settings, and carries sacrebleu's
signature, so a score printed here equals the ``sacrebleu`` command line's on the same files and two
scores are comparable only when their signatures agree. The module knows nothing of models: it
takes lines of text, which keeps it importable (and fast to import) without torch.

References are given as *streams*: ``references[k]`` is the k-th reference translation of the whole
test set, one line per hypothesis, as in ``sacrebleu REF1 REF2 -i HYP``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric
from sacrebleu.significance import PairedTest

from nmt.errors import NMTError
from nmt.textio import iter_lines

METRICS: tuple[str, ...] = ("bleu", "chrf", "chrf++", "ter")
DEFAULT_METRICS: tuple[str, ...] = ("bleu", "chrf", "ter")

# sacrebleu's command line prints one decimal unless told otherwise (``-w``).
DEFAULT_WIDTH = 1

_HIGHER_IS_BETTER = {"bleu": True, "chrf": True, "chrf++": True, "ter": False}


class EvaluationError(NMTError):
    """Hypotheses and references cannot be scored: unreadable, empty or not line-aligned."""


@dataclass(frozen=True)
class MetricScore:
    """One corpus-level score.

    ``name`` is this package's key (``bleu``, ``chrf``, ``chrf++``, ``ter``); ``label`` is
    sacrebleu's (``BLEU``, ``chrF2``, ``chrF2++``, ``TER``). ``formatted`` is sacrebleu's own line,
    ``LABEL|SIGNATURE = SCORE [details]``, identical to what ``sacrebleu -f text`` prints.
    """

    name: str
    label: str
    score: float
    signature: str
    formatted: str
    higher_is_better: bool


@dataclass(frozen=True)
class SentenceScores:
    """One score per hypothesis. Sentence BLEU uses effective n-gram order (``eff:yes`` in the
    signature), as ``sacrebleu --sentence-level`` does, so a short line is not scored zero."""

    name: str
    label: str
    scores: tuple[float, ...]
    signature: str


@dataclass(frozen=True)
class PairedComparison:
    """sacrebleu's paired bootstrap test of a system against a baseline, for one metric.

    ``p_value`` is the probability of a score difference at least this large arising by chance;
    ``*_mean`` and ``*_ci`` are the bootstrap mean and the half-width of its 95% confidence
    interval (``mean ± ci``), as sacrebleu reports them.
    """

    name: str
    label: str
    baseline: float
    system: float
    p_value: float
    baseline_mean: float
    baseline_ci: float
    system_mean: float
    system_ci: float
    signature: str
    higher_is_better: bool

    @property
    def difference(self) -> float:
        """System minus baseline; whether that is an improvement depends on ``higher_is_better``."""
        return self.system - self.baseline

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the difference is unlikely to be chance; sacrebleu marks ``p < 0.05`` with ``*``.

        Equal scores are never significant: for two identical outputs sacrebleu's test returns its
        smallest p-value, ``1 / (n_samples + 1)``, because no resample differs by more than zero.
        """
        return self.system != self.baseline and self.p_value < alpha


def check_metric(name: str) -> str:
    """Return ``name`` if it is a metric this module scores, else raise :class:`EvaluationError`."""
    if name not in _HIGHER_IS_BETTER:
        raise EvaluationError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return name


def higher_is_better(metric: str) -> bool:
    """True for BLEU and chrF, False for TER (an edit rate): how a trainer compares checkpoints."""
    return _HIGHER_IS_BETTER[check_metric(metric)]


def read_text_file(path: str | Path) -> list[str]:
    """Read a UTF-8 file into lines the way the ``sacrebleu`` command line does.

    Lines are split by :mod:`nmt.textio`'s rules (at ``\n`` only, not at the Unicode separators
    ``str.splitlines`` honours) and trailing whitespace is stripped, so line counts agree with
    ``wc -l`` and scores with sacrebleu. One difference, on purpose: a byte-order mark at the
    start of the file is dropped (sacrebleu would score it as part of the first segment).
    """
    return [line.rstrip() for line in iter_lines(path)]


def check_aligned(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    hypotheses_name: str = "hypotheses",
    reference_names: Sequence[str] | None = None,
) -> None:
    """Raise :class:`EvaluationError` unless every reference stream has one line per hypothesis.

    The names (file paths, in the command line) appear in the message with the line counts. An
    empty hypothesis set is an error, never a score of 0: it almost always means decoding failed.
    """
    if not references:
        raise EvaluationError(f"no reference given for {hypotheses_name}")
    if reference_names is None:
        reference_names = [f"reference stream {k + 1}" for k in range(len(references))]
    for stream, stream_name in zip(references, reference_names, strict=True):
        if not hypotheses and stream:
            raise EvaluationError(
                f"{hypotheses_name} is empty but {stream_name} has {len(stream)} lines; "
                "an empty output is an error, not a score of 0 (did translation fail?)"
            )
        if len(stream) != len(hypotheses):
            raise EvaluationError(
                f"{hypotheses_name} has {len(hypotheses)} lines but {stream_name} has "
                f"{len(stream)}; hypotheses and references must be line-aligned"
            )
    if not hypotheses:
        raise EvaluationError(
            f"{hypotheses_name} and {reference_names[0]} are both empty: nothing to score"
        )


def compute_scores(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    width: int = DEFAULT_WIDTH,
) -> list[MetricScore]:
    """Corpus-level scores, one per metric in the order asked.

    ``width`` is the number of decimals in ``formatted`` (sacrebleu's ``-w``); ``score`` is exact.
    """
    check_aligned(hypotheses, references)
    scorers = {name: _make_metric(name) for name in metrics}
    results = []
    for name, metric in scorers.items():
        score = metric.corpus_score(list(hypotheses), _as_lists(references))
        signature = metric.get_signature().format()
        results.append(
            MetricScore(
                name=name,
                label=score.name,
                score=float(score.score),
                signature=signature,
                formatted=score.format(width=width, signature=signature),
                higher_is_better=_HIGHER_IS_BETTER[name],
            )
        )
    return results


def sentence_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], metric: str = "bleu"
) -> SentenceScores:
    """One metric's score for each hypothesis against its own reference lines."""
    check_aligned(hypotheses, references)
    scorer = _make_metric(metric, sentence_level=True)
    scores = [
        scorer.sentence_score(hypothesis, list(refs))
        for hypothesis, *refs in zip(hypotheses, *references, strict=True)
    ]
    return SentenceScores(
        name=metric,
        label=scores[0].name,
        scores=tuple(score.score for score in scores),
        signature=scorer.get_signature().format(),
    )


def paired_significance(
    baseline_hypotheses: Sequence[str],
    system_hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_samples: int = 1000,
    seed: int | None = 12345,
) -> list[PairedComparison]:
    """sacrebleu's paired bootstrap resampling (``sacrebleu --paired-bs``), one result per metric.

    Both systems are resampled with the same sentence indices. ``seed`` defaults to sacrebleu's, so
    results equal the command line's; ``None`` draws fresh randomness (signature: ``seed:none``).
    """
    check_aligned(baseline_hypotheses, references, "baseline hypotheses")
    check_aligned(system_hypotheses, references, "system hypotheses")
    if n_samples < 1:
        raise EvaluationError(f"n_samples must be at least 1, got {n_samples}")
    if seed is not None and seed < 1:
        # sacrebleu treats a seed of 0 as "no seed" for the system: the result would not reproduce.
        raise EvaluationError(f"the seed must be a positive integer or None, got {seed}")
    scorers = {name: _make_metric(name) for name in metrics}
    with _sacrebleu_seed(seed):
        test = PairedTest(
            [("baseline", list(baseline_hypotheses)), ("system", list(system_hypotheses))],
            scorers,
            references=_as_lists(references),
            test_type="bs",
            n_samples=n_samples,
        )
        signatures, results = test()
    # PairedTest keys its results by sacrebleu's label, in the order the metrics were given.
    comparisons = []
    for name, label in zip(scorers, signatures, strict=True):
        baseline, system = results[label]
        comparisons.append(
            PairedComparison(
                name=name,
                label=label,
                baseline=float(baseline.score),
                system=float(system.score),
                p_value=float(system.p_value),
                baseline_mean=float(baseline.mean),
                baseline_ci=float(baseline.ci),
                system_mean=float(system.mean),
                system_ci=float(system.ci),
                signature=signatures[label].format(),
                higher_is_better=_HIGHER_IS_BETTER[name],
            )
        )
    return comparisons


def _make_metric(name: str, sentence_level: bool = False) -> Metric:
    """A sacrebleu metric with the command line's defaults (chrF++ is chrF with word bigrams)."""
    check_metric(name)
    if name == "bleu":
        return BLEU(effective_order=sentence_level)
    if name == "chrf":
        return CHRF()
    if name == "chrf++":
        return CHRF(word_order=2)
    return TER()


def _as_lists(references: Sequence[Sequence[str]]) -> list[list[str]]:
    return [list(stream) for stream in references]


@contextmanager
def _sacrebleu_seed(seed: int | None) -> Iterator[None]:
    """sacrebleu's paired test reads its seed only from ``SACREBLEU_SEED``; set it, then restore."""
    previous = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = "none" if seed is None else str(seed)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["SACREBLEU_SEED"]
        else:
            os.environ["SACREBLEU_SEED"] = previous
