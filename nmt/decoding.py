"""Decoding settings: the one place a search option is declared, documented and checked.

Each field of :class:`DecodingConfig` carries its default, the values it allows and its help
text. The ``decoding`` section of a config file, ``Translator.translate(lines, **overrides)``
and the flags of ``nmt translate`` (built from these fields by :func:`nmt.cli.common`'s
``add_decoding_flags``) all read them from here, so adding a search option means adding a field
here and its rule in :mod:`nmt.search`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nmt.config_checks import (
    AT_LEAST_ONE,
    FRACTION,
    POSITIVE,
    ZERO_OR_MORE,
    ConfigError,
    Range,
    check_allowed,
    check_value,
    option,
)

SAMPLERS = ("none", "topk", "topp", "epsilon")


@dataclass
class DecodingConfig:
    """Search settings used by validation and as the translator's defaults."""

    beam_size: int = option(5, AT_LEAST_ONE, "beam width; 1 = greedy search", "K")
    length_penalty: float = option(
        1.0,
        ZERO_OR_MORE,
        "GNMT length penalty alpha: scores are log p / ((5+L)/6)^alpha; 0 = off",
        "ALPHA",
    )
    max_len_a: float = option(1.5, ZERO_OR_MORE, "output limit: A * source pieces + B", "A")
    max_len_b: int = option(10, ZERO_OR_MORE, "see --max-len-a", "B")
    min_len_a: float = option(
        0.0,
        ZERO_OR_MORE,
        "output minimum: A * source pieces (EOS is blocked before); 0 = off",
        "A",
    )
    batch_size: int = option(64, AT_LEAST_ONE, "sentences per batch", "N")
    n_best: int = option(
        1,
        AT_LEAST_ONE,
        "the N best translations of each line (at most the beam size; with --sampling, N samples)",
        "N",
    )
    split_sentences: bool = option(
        False, None, "translate each sentence of a multi-sentence line on its own"
    )
    no_repeat_ngram: int = option(
        0, ZERO_OR_MORE, "never repeat an N-gram of target pieces (N >= 2); 0 = off", "N"
    )
    coverage_penalty: float = option(
        0.0,
        ZERO_OR_MORE,
        "GNMT coverage penalty beta: rank down translations that left source "
        "pieces unattended; 0 = off",
        "BETA",
    )
    mbr: bool = option(
        False,
        None,
        "minimum Bayes risk: of the beam's candidates keep the one with the best "
        "expected chrF against the others (nmt.mbr)",
    )
    mbr_samples: int = option(
        0,
        ZERO_OR_MORE,
        "with --mbr: N translations sampled from the model (epsilon sampling) "
        "are the pseudo-references, and candidates beside the beam's; 0 = the beam's",
        "N",
    )
    sampling: str = option(
        "none",
        SAMPLERS,
        "draw translations from the model instead of searching (e.g. for "
        "back-translation): topk, topp (nucleus) or epsilon; none = search",
    )
    sampling_topk: int = option(
        10, AT_LEAST_ONE, "--sampling topk: draw among the K most probable pieces", "K"
    )
    sampling_topp: float = option(
        0.9,
        Range(0, 1, open_low=True),
        "--sampling topp: draw among the most probable pieces whose probabilities add up to P",
        "P",
    )
    sampling_epsilon: float = option(
        0.02,
        FRACTION,
        "--sampling epsilon and MBR samples: draw among pieces of probability "
        ">= E (0 = the full distribution)",
        "E",
    )
    temperature: float = option(
        1.0,
        POSITIVE,
        "sampling: divide the log-probabilities by T before drawing (T > 1 "
        "flattens, T < 1 sharpens)",
        "T",
    )
    seed: int = option(
        1,
        ZERO_OR_MORE,
        "sampling: seed of the generator, reset for every batch (the same input "
        "and settings give the same output)",
        "N",
    )

    shortlist: bool = option(
        False,
        None,
        "compute the output layer over the batch's shortlisted target pieces only "
        "(MODEL_DIR/shortlist.pt, built by nmt shortlist): faster, output may differ slightly",
    )

    def check(self, name: Callable[[str], str] = str) -> None:
        """Raise a ConfigError unless every value is allowed; ``name`` turns a field name into
        how the caller spelled it (a config key, a keyword, a flag)."""
        for spec in dataclasses.fields(self):
            allowed = spec.metadata.get("allowed")
            if allowed is not None:
                check_allowed(getattr(self, spec.name), allowed, name(spec.name))
        self.check_rules(name)

    def check_rules(self, name: Callable[[str], str] = str) -> None:
        """What no single field can say: the rules between fields."""
        if self.min_len_a > self.max_len_a:
            raise ConfigError(
                f"{name('min_len_a')} ({self.min_len_a:g}) must not exceed "
                f"{name('max_len_a')} ({self.max_len_a:g})"
            )
        if self.sampling == "none" and self.n_best > self.beam_size:
            raise ConfigError(
                f"{name('n_best')} ({self.n_best}) must not exceed {name('beam_size')} "
                f"({self.beam_size}): the search keeps {self.beam_size} hypotheses"
            )
        if self.no_repeat_ngram == 1:
            raise ConfigError(
                f"{name('no_repeat_ngram')}: 1 would forbid repeating any piece; allowed: 0 (off) "
                "or 2 and more"
            )
        if self.sampling != "none" and self.mbr:
            raise ConfigError(
                f"{name('sampling')} and {name('mbr')} are two ways to pick the output: choose "
                "one (MBR draws its own samples with mbr_samples)"
            )

    def with_overrides(
        self, overrides: dict[str, Any], name: Callable[[str], str] = str
    ) -> DecodingConfig:
        """These settings with ``overrides`` (field name -> value; None keeps the value),
        checked; errors call a setting ``name(field)`` (a keyword by default)."""
        known = {spec.name for spec in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(
                f"unknown decoding setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        hints = decoding_types()
        given = {
            key: check_value(value, hints[key], name(key))
            for key, value in overrides.items()
            if value is not None
        }
        settings = dataclasses.replace(self, **given)
        settings.check(name)
        return settings


def decoding_types() -> dict[str, Any]:
    """Field name -> annotation (evaluated), for checking and for building CLI flags."""
    return typing.get_type_hints(DecodingConfig)
