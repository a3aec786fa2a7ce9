"""The importable decoder: text in, text out.

    from nmt import Translator
    translator = Translator.from_pretrained("exp/model")
    translator.translate(["Hello world."])  # -> ["Hola mundo."]

Lines are stripped of surrounding whitespace, tokenized, sorted by length into batches (so a batch
holds sentences of similar length and little padding) and put back in input order. An empty or
whitespace-only line translates to "" without touching the model.

A line longer than the model's limit (``data.max_len`` source pieces) is translated in full, in
chunks, and ``split_sentences`` translates each sentence of a line on its own: :mod:`nmt.segmentation`
says where lines are cut. The chunks' translations are joined with a space; their scores add up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from nmt.config import Config, DecodingConfig, load_config
from nmt.constants import CONFIG_FILE, WEIGHTS_FILE
from nmt.errors import NMTError
from nmt.hub import resolve_model_dir
from nmt.mbr import mbr_order, sampled_mbr_order
from nmt.model import Seq2Seq
from nmt.model_dir import load_weights
from nmt.quantization import apply_precision
from nmt.search import Hypothesis, beam_search, greedy_search, length_penalty, sample_search
from nmt.segmentation import split_points
from nmt.tokenizer import PAD_ID, Tokenizer

SAMPLING_SEED = 1  # sampling MBR draws from a generator seeded with this for every batch


@dataclass
class Translation:
    """One hypothesis for one input line."""

    text: str
    score: float  # sum of log-probabilities / GNMT length penalty (summed over chunks)
    tokens: list[int]  # target ids, without BOS and EOS
    src_pieces: list[str]  # the source as the model saw it
    attention: Tensor = field(repr=False)  # (len(tokens), len(src_pieces)), on the CPU

    @property
    def alignment(self) -> list[tuple[int, int]]:
        """(source piece, target token) pairs: each target token with its most attended piece."""
        if self.attention.numel() == 0:
            return []
        return [(source, target) for target, source in enumerate(self.attention.argmax(1).tolist())]


class Translator:
    """A model, its tokenizer and decoding defaults; ``translate`` does the rest.

    ``config.decoding`` supplies every search setting a call leaves as None. The model is used as
    it is (the trainer passes its training model for validation); search runs it in eval mode and
    restores its mode afterwards.
    """

    def __init__(
        self,
        model: Seq2Seq,
        tokenizer: Tokenizer,
        config: Config,
        device: str | torch.device = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.tokenizer = tokenizer
        self.config = config
        self.max_src_len = config.data.max_len

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path,
        checkpoint: str | Path | None = None,
        device: str | torch.device = "cpu",
        threads: int | None = None,
        precision: str = "fp32",
        revision: str | None = None,
    ) -> Translator:
        """Load ``model_dir``: ``config.yaml``, the SentencePiece model(s) and ``model.pt``.

        ``model_dir`` is a local directory, or else a Hugging Face Hub repo id (``org/name``,
        at ``revision``) fetched into the Hub's cache (:func:`nmt.hub.resolve_model_dir`).

        ``checkpoint`` (e.g. ``model_dir/checkpoints/step_00010000.pt``) replaces ``model.pt``.
        ``threads`` sets ``torch.set_num_threads`` for the whole process. ``precision="int8"``
        translates with int8 weights on the CPU (:mod:`nmt.quantization`): 2-3x faster, with
        slightly different translations (BLEU within a few tenths in ``docs/results.md``).
        """
        model_dir = resolve_model_dir(model_dir, revision)
        if threads is not None:
            if threads < 1:
                raise NMTError(f"threads must be at least 1, got {threads}")
            torch.set_num_threads(threads)
        config = load_config(model_dir / CONFIG_FILE)
        tokenizer = Tokenizer.load(model_dir)
        path = Path(checkpoint) if checkpoint is not None else model_dir / WEIGHTS_FILE
        model = load_weights(path, config, tokenizer).eval()
        try:
            model = apply_precision(model, precision, torch.device(device))
        except ValueError as error:
            raise NMTError(str(error)) from None
        return cls(model, tokenizer, config, device)

    def translate(
        self,
        lines: Sequence[str],
        beam_size: int | None = None,
        batch_size: int | None = None,
        max_len_a: float | None = None,
        max_len_b: int | None = None,
        length_penalty: float | None = None,
        split_sentences: bool | None = None,
        no_repeat_ngram: int | None = None,
        coverage_penalty: float | None = None,
        mbr: bool | None = None,
        min_len_a: float | None = None,
        mbr_samples: int | None = None,
    ) -> list[str]:
        """The best translation of each line, in input order; None means the config's default."""
        results = self.translate_hypotheses(
            lines,
            beam_size,
            batch_size,
            max_len_a,
            max_len_b,
            length_penalty,
            n_best=1,
            split_sentences=split_sentences,
            no_repeat_ngram=no_repeat_ngram,
            coverage_penalty=coverage_penalty,
            mbr=mbr,
            min_len_a=min_len_a,
            mbr_samples=mbr_samples,
        )
        return [n_best[0].text for n_best in results]

    def translate_hypotheses(
        self,
        lines: Sequence[str],
        beam_size: int | None = None,
        batch_size: int | None = None,
        max_len_a: float | None = None,
        max_len_b: int | None = None,
        length_penalty: float | None = None,
        n_best: int | None = None,
        progress: Callable[[int], object] | None = None,
        split_sentences: bool | None = None,
        no_repeat_ngram: int | None = None,
        coverage_penalty: float | None = None,
        mbr: bool | None = None,
        min_len_a: float | None = None,
        mbr_samples: int | None = None,
    ) -> list[list[Translation]]:
        """The ``n_best`` best translations of each line, best first, in input order.

        An empty line gets one empty translation with score 0, and every other line at least one:
        where the model gives no translation a finite score (NaN weights after a diverged
        training), the search's partial output, scored -inf, with a RuntimeWarning (see
        :mod:`nmt.search`), so that output line N still belongs to input line N.

        ``progress`` is called after each batch with the number of lines it completed (e.g.
        ``tqdm.update``). With ``mbr`` the search keeps all ``beam_size`` candidates of each
        sentence and "best" means the highest expected chrF against the others (:mod:`nmt.mbr`);
        with ``mbr_samples`` > 0 the pseudo-references are that many translations sampled from
        the model (epsilon sampling, ``decoding.sampling_epsilon``), candidates too, and each
        distinct text is listed once. Scores stay the model's. Sampling is seeded per batch: the
        same input, batch size and settings give the same output.
        """
        settings = self._settings(
            beam_size,
            batch_size,
            max_len_a,
            max_len_b,
            length_penalty,
            n_best,
            split_sentences,
            no_repeat_ngram,
            coverage_penalty,
            mbr,
            min_len_a,
            mbr_samples,
        )
        texts = [line.strip() for line in lines]
        real = [i for i, text in enumerate(texts) if text]
        results: list[list[Translation]] = [
            [Translation("", 0.0, [], [], torch.zeros(0, 0))] for _ in texts
        ]
        if progress is not None and len(real) < len(texts):
            progress(len(texts) - len(real))
        if not real:
            return results

        ids = self.tokenizer.encode_src([texts[i] for i in real])
        pieces = self.tokenizer.src_pieces([texts[i] for i in real])
        segments: list[list[int]] = []  # source ids of each chunk of each real line
        owner: list[int] = []  # position in ``real`` of each segment's line
        for position, (line_ids, line_pieces) in enumerate(zip(ids, pieces, strict=True)):
            for start, end in split_points(line_pieces, self.max_src_len, settings.split_sentences):
                segments.append(line_ids[start:end])
                owner.append(position)
        remaining = [0] * len(real)  # segments left per line, for progress
        for position in owner:
            remaining[position] += 1

        found: list[list[Hypothesis]] = [[] for _ in segments]
        order = sorted(range(len(segments)), key=lambda s: -len(segments[s]))
        for first in range(0, len(order), settings.batch_size):
            batch = order[first : first + settings.batch_size]
            for segment, hypotheses in zip(
                batch, self._search(segments, batch, settings), strict=True
            ):
                found[segment] = hypotheses
            if progress is not None:
                done = 0
                for segment in batch:
                    remaining[owner[segment]] -= 1
                    done += remaining[owner[segment]] == 0
                progress(done)

        by_line: list[list[list[Hypothesis]]] = [[] for _ in real]
        for segment, position in enumerate(owner):
            by_line[position].append(found[segment])
        for position, line in enumerate(real):
            results[line] = self._translations(by_line[position], pieces[position], settings)
        return results

    def _settings(
        self,
        beam_size: int | None,
        batch_size: int | None,
        max_len_a: float | None,
        max_len_b: int | None,
        alpha: float | None,
        n_best: int | None,
        split: bool | None,
        no_repeat: int | None,
        beta: float | None,
        mbr: bool | None,
        min_len_a: float | None,
        mbr_samples: int | None,
    ) -> DecodingConfig:
        """The config's decoding defaults with this call's values, checked."""
        defaults = self.config.decoding
        settings = DecodingConfig(
            beam_size=defaults.beam_size if beam_size is None else beam_size,
            length_penalty=defaults.length_penalty if alpha is None else alpha,
            max_len_a=defaults.max_len_a if max_len_a is None else max_len_a,
            max_len_b=defaults.max_len_b if max_len_b is None else max_len_b,
            batch_size=defaults.batch_size if batch_size is None else batch_size,
            n_best=defaults.n_best if n_best is None else n_best,
            split_sentences=defaults.split_sentences if split is None else split,
            no_repeat_ngram=defaults.no_repeat_ngram if no_repeat is None else no_repeat,
            coverage_penalty=defaults.coverage_penalty if beta is None else beta,
            mbr=defaults.mbr if mbr is None else mbr,
            min_len_a=defaults.min_len_a if min_len_a is None else min_len_a,
            mbr_samples=defaults.mbr_samples if mbr_samples is None else mbr_samples,
            sampling_epsilon=defaults.sampling_epsilon,
        )
        if settings.beam_size < 1 or settings.batch_size < 1:
            raise NMTError(
                f"beam size ({settings.beam_size}) and batch size ({settings.batch_size}) must be "
                "at least 1"
            )
        if settings.no_repeat_ngram < 0 or settings.no_repeat_ngram == 1:
            raise NMTError(
                f"no_repeat_ngram must be 0 (off) or at least 2, got {settings.no_repeat_ngram}"
            )
        if settings.coverage_penalty < 0:
            raise NMTError(
                f"coverage penalty must be 0 (off) or more, got {settings.coverage_penalty}"
            )
        if not 0 <= settings.min_len_a <= settings.max_len_a:
            raise NMTError(
                f"min_len_a must be between 0 (off) and max_len_a ({settings.max_len_a:g}), "
                f"got {settings.min_len_a:g}"
            )
        if settings.mbr_samples < 0 or not 0 <= settings.sampling_epsilon < 1:
            raise NMTError(
                f"mbr_samples must be 0 (off) or more, got {settings.mbr_samples}, and "
                f"sampling_epsilon in [0, 1), got {settings.sampling_epsilon:g}"
            )
        if not 1 <= settings.n_best <= settings.beam_size:
            raise NMTError(
                f"n-best {settings.n_best} needs a beam of at least {settings.n_best} "
                f"(beam size is {settings.beam_size})"
            )
        return settings

    def _search(
        self, segments: list[list[int]], batch: list[int], settings: DecodingConfig
    ) -> list[list[Hypothesis]]:
        """Pad ``segments[batch]`` into (batch, longest) ids and run the configured search."""
        lengths = torch.tensor([len(segments[s]) for s in batch])
        src = torch.full((len(batch), int(lengths.max())), PAD_ID, dtype=torch.long)
        for row, segment in enumerate(batch):
            src[row, : lengths[row]] = torch.tensor(segments[segment])
        src, lengths = src.to(self.device), lengths.to(self.device)
        if settings.mbr and settings.mbr_samples:
            # the beam's candidates, then the samples: _mbr_ordered tells them apart by count
            generator = torch.Generator(device=self.device).manual_seed(SAMPLING_SEED)
            samples = sample_search(
                self.model,
                src,
                lengths,
                settings.mbr_samples,
                settings.sampling_epsilon,
                settings.max_len_a,
                settings.max_len_b,
                no_repeat_ngram=settings.no_repeat_ngram,
                min_len_a=settings.min_len_a,
                generator=generator,
            )
            for h in (h for hypotheses in samples for h in hypotheses):
                h.score /= length_penalty(len(h.tokens) + 1, settings.length_penalty)
            return [
                candidates + drawn
                for candidates, drawn in zip(
                    self._beam_or_greedy(src, lengths, settings), samples, strict=True
                )
            ]
        return self._beam_or_greedy(src, lengths, settings)

    def _beam_or_greedy(
        self, src: Tensor, lengths: Tensor, settings: DecodingConfig
    ) -> list[list[Hypothesis]]:
        if settings.beam_size == 1:
            # Greedy is beam search of width 1 without the candidate bookkeeping; its plain
            # log-probability is normalised here so that scores mean the same either way.
            hypotheses = greedy_search(
                self.model,
                src,
                lengths,
                settings.max_len_a,
                settings.max_len_b,
                no_repeat_ngram=settings.no_repeat_ngram,
                min_len_a=settings.min_len_a,
            )
            for h in hypotheses:
                h.score /= length_penalty(len(h.tokens) + 1, settings.length_penalty)
            return [[h] for h in hypotheses]
        return beam_search(
            self.model,
            src,
            lengths,
            settings.beam_size,
            settings.length_penalty,
            settings.max_len_a,
            settings.max_len_b,
            settings.beam_size if settings.mbr else settings.n_best,
            no_repeat_ngram=settings.no_repeat_ngram,
            coverage_beta=settings.coverage_penalty,
            min_len_a=settings.min_len_a,
        )

    def _translations(
        self, chunks: list[list[Hypothesis]], pieces: list[str], settings: DecodingConfig
    ) -> list[Translation]:
        """Join the n-best lists of a line's chunks: the i-th translation joins every chunk's i-th
        (with MBR, each chunk's candidates in MBR order)."""
        if settings.mbr:
            chunks = [self._mbr_ordered(hypotheses, settings.mbr_samples) for hypotheses in chunks]
        count = min(len(hypotheses) for hypotheses in chunks)
        translations = []
        for rank in range(count):
            parts = [hypotheses[rank] for hypotheses in chunks]
            texts = self.tokenizer.decode_tgt([h.tokens for h in parts])
            translations.append(
                Translation(
                    text=" ".join(texts),
                    score=sum(h.score for h in parts),
                    tokens=[token for h in parts for token in h.tokens],
                    src_pieces=pieces,
                    attention=torch.block_diag(*(h.attention for h in parts)),
                )
            )
        if not settings.mbr:
            translations.sort(key=lambda t: -t.score)
        return translations[: settings.n_best]

    def _mbr_ordered(self, hypotheses: list[Hypothesis], samples: int) -> list[Hypothesis]:
        """One sentence's candidates by expected chrF.

        Without samples, against the beam's candidates weighted by exp(search score): the
        length-normalised log-probability the beam ranks by; weights from plain log-probabilities
        favour the short candidates the length penalty is there to correct (held-out es-en news:
        chrF 42.5 against 43.2 with normalised scores, see docs/results.md). With samples (the
        last ``samples`` hypotheses), against those, uniformly: they were drawn from the model,
        so the draw already weighs them; each distinct text is kept once.
        """
        texts = self.tokenizer.decode_tgt([h.tokens for h in hypotheses])
        if not samples:
            return [hypotheses[i] for i in mbr_order(texts, [h.score for h in hypotheses])]
        first = {text: i for i, text in reversed(list(enumerate(texts)))}  # beam's copy first
        distinct = sorted(first.values())
        order = sampled_mbr_order([texts[i] for i in distinct], texts[-samples:])
        return [hypotheses[distinct[i]] for i in order]
