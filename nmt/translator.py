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
from typing import Any

import torch
from torch import Tensor

from nmt.config import Config, load_config
from nmt.constants import CONFIG_FILE, SHORTLIST_FILE, WEIGHTS_FILE
from nmt.decoding import DecodingConfig
from nmt.ensemble import Ensemble
from nmt.errors import NMTError
from nmt.hub import resolve_model_dir
from nmt.mbr import mbr_order, sampled_mbr_order
from nmt.model import Seq2Seq
from nmt.model_dir import load_weights
from nmt.quantization import apply_precision
from nmt.search import Hypothesis, Search
from nmt.segmentation import split_points
from nmt.shortlist import Shortlist, restrict
from nmt.tokenizer import PAD_ID, Tokenizer


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
        model: Seq2Seq | Ensemble,
        tokenizer: Tokenizer,
        config: Config,
        device: str | torch.device = "cpu",
        shortlist: Shortlist | None = None,
        shortlist_origin: str = "",
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.tokenizer = tokenizer
        self.config = config
        self.max_src_len = config.data.max_len
        self.shortlist = shortlist
        self.shortlist_origin = shortlist_origin

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path | Sequence[str | Path],
        checkpoint: str | Path | Sequence[str | Path] | None = None,
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

        Several directories, or one directory and several checkpoints, make an ensemble
        (:mod:`nmt.ensemble`); its tokenizer, config and decoding defaults are the first
        model's, and every model must have the same vocabularies.
        """
        dirs = [model_dir] if isinstance(model_dir, (str, Path)) else list(model_dir)
        if checkpoint is None or isinstance(checkpoint, (str, Path)):
            checkpoints = [checkpoint] * len(dirs)
        else:
            checkpoints = list(checkpoint)
            if len(dirs) == 1:
                dirs = dirs * len(checkpoints)
        if not dirs or len(checkpoints) != len(dirs):
            raise NMTError(
                f"{len(dirs)} model directories and {len(checkpoints)} checkpoints: give one "
                "directory and any number of its checkpoints, or one checkpoint (or none) per "
                "directory"
            )
        if threads is not None:
            if threads < 1:
                raise NMTError(f"threads must be at least 1, got {threads}")
            torch.set_num_threads(threads)
        resolved = {d: resolve_model_dir(d, revision) for d in dict.fromkeys(dirs)}  # once each
        members = [
            _load_member(resolved[d], c, precision, torch.device(device))
            for d, c in zip(dirs, checkpoints, strict=True)
        ]
        model, tokenizer, config, origin = members[0]
        others = {resolved[d]: member for d, member in zip(dirs, members, strict=True)}
        others.pop(resolved[dirs[0]])  # checkpoints of the first directory share its files
        for _, other, _, other_origin in others.values():
            if other.vocabularies() != tokenizer.vocabularies():
                raise NMTError(
                    f"{other_origin} and {origin} have different vocabularies: an ensemble's "
                    "models must share their SentencePiece models (train them from one)"
                )
        if len(members) > 1:
            model = Ensemble([member[0] for member in members])
        # the first model's shortlist, read now if there is one, needed once asked for
        path = resolved[dirs[0]] / SHORTLIST_FILE
        shortlist = None
        if path.is_file():
            shortlist = Shortlist.load(path, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
        return cls(model, tokenizer, config, device, shortlist, str(path))

    def translate(self, lines: Sequence[str], **overrides: Any) -> list[str]:
        """The best translation of each line, in input order. ``overrides`` are decoding
        settings (:class:`~nmt.decoding.DecodingConfig` fields) for this call; the config's
        ``decoding`` section gives the rest."""
        overrides["n_best"] = 1
        return [n_best[0].text for n_best in self.translate_hypotheses(lines, **overrides)]

    def translate_hypotheses(
        self,
        lines: Sequence[str],
        progress: Callable[[int], object] | None = None,
        **overrides: Any,
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
        settings = self.config.decoding.with_overrides(overrides)
        if settings.shortlist and self.shortlist is None:
            where = self.shortlist_origin or "the model directory's shortlist.pt"
            raise NMTError(f"{where} not found: build the model's shortlist with `nmt shortlist`")
        search = Search(settings)
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
            src, lengths = padded_ids([segments[s] for s in batch], self.device)
            for segment, hypotheses in zip(batch, self._search(search, src, lengths), strict=True):
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

    def _search(self, search: Search, src: Tensor, lengths: Tensor) -> list[list[Hypothesis]]:
        """``search`` over the whole target vocabulary, or over the batch's shortlist."""
        if not search.settings.shortlist:
            return search(self.model, src, lengths)
        assert self.shortlist is not None, "checked before the search"
        ids = self.shortlist.ids_for(src)
        found = search(restrict(self.model, ids), src, lengths)
        table = ids.tolist()  # restricted index -> target id
        for hypotheses in found:
            for h in hypotheses:
                h.tokens = [table[token] for token in h.tokens]
        return found

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
        chrF 42.5 against 43.2 with normalised scores, docs/experiments/recipe-2026-11-27.md). With samples (the
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


def _load_member(
    model_dir: Path, checkpoint: str | Path | None, precision: str, device: torch.device
) -> tuple[torch.nn.Module, Tokenizer, Config, str]:
    """One model of a translator: its weights at ``precision``, tokenizer, config, and the name
    errors use for it."""
    config = load_config(model_dir / CONFIG_FILE)
    tokenizer = Tokenizer.load(model_dir)
    path = Path(checkpoint) if checkpoint is not None else model_dir / WEIGHTS_FILE
    model = load_weights(path, config, tokenizer).eval()
    try:
        model = apply_precision(model, precision, device)
    except ValueError as error:
        raise NMTError(str(error)) from None
    return model, tokenizer, config, str(path)


def padded_ids(rows: list[list[int]], device: torch.device) -> tuple[Tensor, Tensor]:
    """(len(rows), longest) ids, PAD after each row, and the rows' lengths, on ``device``."""
    lengths = torch.tensor([len(row) for row in rows])
    padded = torch.full((len(rows), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        padded[i, : len(row)] = torch.tensor(row)
    return padded.to(device), lengths.to(device)
