"""SentencePiece subwords: train, save, load, encode and decode.

A model directory holds either one joint model (``spm.model``, shared by both languages) or two
(``spm.src.model``, ``spm.tgt.model``). The special ids are fixed so that the model, the batches
and the search agree without asking the tokenizer: PAD=0, UNK=1, BOS=2, EOS=3.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import sentencepiece as spm
from tqdm import tqdm

from nmt.config import TokenizerConfig
from nmt.constants import (
    BOS_ID,
    EOS_ID,
    JOINT_SPM_FILE,
    PAD_ID,
    SRC_SPM_FILE,
    TGT_SPM_FILE,
    UNK_ID,
)
from nmt.errors import NMTError
from nmt.textio import iter_lines

_SPECIAL_IDS = {"pad": PAD_ID, "unk": UNK_ID, "bos": BOS_ID, "eos": EOS_ID}


class TokenizerError(NMTError):
    """A SentencePiece model is missing, unreadable, or has the wrong special ids."""


class Tokenizer:
    """Source and target SentencePiece processors; the same object when the model is joint.

    Encoding adds no BOS/EOS: :func:`nmt.data.collate` adds them where the model needs them.
    Pickling carries the serialized models, so ``datasets.map(num_proc=N)`` workers rebuild the
    processors without touching the filesystem.
    """

    def __init__(self, src_proto: bytes, tgt_proto: bytes | None = None, origin: str = "<memory>"):
        """``tgt_proto`` None means joint. ``origin`` names the models' location in errors."""
        self._src_proto = src_proto
        self._tgt_proto = tgt_proto
        self._src = _processor(src_proto, origin)
        self._tgt = self._src if tgt_proto is None else _processor(tgt_proto, origin)

    @classmethod
    def load(cls, directory: str | Path) -> Tokenizer:
        """Read ``spm.model`` or ``spm.src.model`` + ``spm.tgt.model`` from ``directory``."""
        directory = Path(directory)
        joint = directory / JOINT_SPM_FILE
        src, tgt = directory / SRC_SPM_FILE, directory / TGT_SPM_FILE
        if joint.is_file() and (src.is_file() or tgt.is_file()):
            raise TokenizerError(
                f"{directory}: holds both a joint model ({JOINT_SPM_FILE}) and separate ones "
                f"({SRC_SPM_FILE}/{TGT_SPM_FILE}); remove the ones that do not belong to this model"
            )
        if joint.is_file():
            return cls(_read_model(joint), origin=str(joint))
        if src.is_file() and tgt.is_file():
            return cls(_read_model(src), _read_model(tgt), origin=f"{src} / {tgt}")
        raise TokenizerError(
            f"{directory}: no SentencePiece model found (expected {JOINT_SPM_FILE}, or {SRC_SPM_FILE} "
            f"and {TGT_SPM_FILE}); train one with `nmt spm-train`"
        )

    def save(self, directory: str | Path) -> None:
        """Write the model file(s) into ``directory`` so that a model directory is self-contained."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.joint:
            (directory / JOINT_SPM_FILE).write_bytes(self._src_proto)
        else:
            (directory / SRC_SPM_FILE).write_bytes(self._src_proto)
            (directory / TGT_SPM_FILE).write_bytes(self._tgt_proto)

    @property
    def joint(self) -> bool:
        return self._tgt_proto is None

    @property
    def src_vocab_size(self) -> int:
        return self._src.get_piece_size()

    @property
    def tgt_vocab_size(self) -> int:
        return self._tgt.get_piece_size()

    def encode_src(self, texts: list[str]) -> list[list[int]]:
        return self._src.encode(texts, out_type=int)

    def encode_tgt(self, texts: list[str]) -> list[list[int]]:
        return self._tgt.encode(texts, out_type=int)

    def src_pieces(self, texts: list[str]) -> list[list[str]]:
        return self._src.encode(texts, out_type=str)

    def tgt_pieces(self, texts: list[str]) -> list[list[str]]:
        return self._tgt.encode(texts, out_type=str)

    def tgt_id_pieces(self, ids: list[int]) -> list[str]:
        """The target pieces of ``ids``, e.g. of a hypothesis' tokens, to label its attention."""
        return [self._tgt.id_to_piece(i) for i in ids]

    def vocabularies(self) -> tuple[list[str], list[str]]:
        """Every source and target piece in id order: two models that agree on these can share
        token ids (ensembles)."""
        return (
            [self._src.id_to_piece(i) for i in range(self.src_vocab_size)],
            [self._tgt.id_to_piece(i) for i in range(self.tgt_vocab_size)],
        )

    def decode_tgt(self, ids_batch: list[list[int]]) -> list[str]:
        """Detokenize search output: each sequence ends at its first EOS; PAD and BOS are dropped."""
        cleaned = []
        for ids in ids_batch:
            ids = list(ids)
            if EOS_ID in ids:
                ids = ids[: ids.index(EOS_ID)]
            cleaned.append([i for i in ids if i != PAD_ID and i != BOS_ID])
        # one call per sequence: a list handed to decode() starts a thread pool, ~95 us a call
        # even for one sequence (13 % of a greedy int8 translation of 500 lines)
        return [self._tgt.decode(ids) for ids in cleaned]

    def __getstate__(self) -> dict[str, bytes | None]:
        return {"src": self._src_proto, "tgt": self._tgt_proto}

    def __setstate__(self, state: dict[str, bytes | None]) -> None:
        self.__init__(state["src"], state["tgt"], origin="<unpickled>")


def train_tokenizer(
    config: TokenizerConfig,
    src_files: list[str],
    tgt_files: list[str],
    out_dir: str | Path,
    threads: int = 0,
) -> Tokenizer:
    """Train SentencePiece on plain or gzipped files and save the model(s) into ``out_dir``.

    Text is kept exactly as written, so that ``decode(encode(s)) == s``:

    - ``normalization_rule_name="identity"``: NFKC (SentencePiece's default) would rewrite
      decomposed accents, ligatures and full-width letters, so a translation could never
      reproduce them; the data is already NFC, so nothing is lost by not normalizing.
    - ``remove_extra_whitespaces=False``: repeated, leading and trailing spaces survive.
    - ``byte_fallback=True``: a character outside the vocabulary (emoji, rare scripts) becomes
      its UTF-8 bytes instead of ``<unk>``.

    At most ``config.input_sentence_size`` sentences per model are kept, sampled uniformly by
    SentencePiece's reservoir (``shuffle_input_sentence``), so memory stays bounded whatever the
    corpus size; the files are streamed, never loaded whole. ``threads`` caps SentencePiece's
    threads (0: one per core), so a run limited to N cores stays within them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spm.set_random_generator_seed(config.seed)
    if config.joint:
        proto = _train_model(config, [*src_files, *tgt_files], threads)
        tokenizer = Tokenizer(proto, origin=str(out_dir))
    else:
        src_proto = _train_model(config, src_files, threads)
        tgt_proto = _train_model(config, tgt_files, threads)
        tokenizer = Tokenizer(src_proto, tgt_proto, origin=str(out_dir))
    tokenizer.save(out_dir)
    return tokenizer


def _train_model(config: TokenizerConfig, files: list[str], threads: int) -> bytes:
    """One SentencePiece model, with progress on stderr: reading a big corpus and training on
    it take minutes, and SentencePiece itself is kept quiet (``minloglevel``)."""
    model = io.BytesIO()
    start = time.monotonic()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_sentences(files, config),
            model_writer=model,
            model_type=config.model_type,
            vocab_size=config.vocab_size,
            character_coverage=config.character_coverage,
            user_defined_symbols=config.user_defined_symbols,
            input_sentence_size=config.input_sentence_size,
            shuffle_input_sentence=True,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            byte_fallback=True,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            num_threads=threads if threads > 0 else os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise TokenizerError(
            f"SentencePiece training on {', '.join(files)} failed: {error}"
        ) from None
    _progress(f"SentencePiece: done in {time.monotonic() - start:.0f} s")
    return model.getvalue()


def _sentences(files: Iterable[str], config: TokenizerConfig) -> Iterator[str]:
    lines = 0
    with tqdm(desc="SentencePiece: reading", unit=" lines", file=sys.stderr, mininterval=5) as bar:
        for path in files:
            for line in iter_lines(path):
                lines += 1
                bar.update()
                yield line
    sampled = min(lines, config.input_sentence_size)
    _progress(
        f"SentencePiece: training a {config.model_type} model of {config.vocab_size} pieces on "
        f"{sampled:,} of {lines:,} lines (minutes on a large corpus)"
    )


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _read_model(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TokenizerError(f"{path}: cannot read SentencePiece model: {error.strerror}") from None


def _processor(proto: bytes, origin: str) -> spm.SentencePieceProcessor:
    """Load a serialized model and check its special ids against PAD/UNK/BOS/EOS."""
    processor = spm.SentencePieceProcessor()
    try:
        processor.load_from_serialized_proto(proto)
    except RuntimeError as error:
        raise TokenizerError(f"{origin}: not a SentencePiece model ({error})") from None
    found = {
        "pad": processor.pad_id(),
        "unk": processor.unk_id(),
        "bos": processor.bos_id(),
        "eos": processor.eos_id(),
    }
    if found != _SPECIAL_IDS:
        have = ", ".join(f"{k}={v}" for k, v in found.items())
        want = ", ".join(f"{k}={v}" for k, v in _SPECIAL_IDS.items())
        raise TokenizerError(
            f"{origin}: special ids are {have}; nmt needs {want} (retrain with `nmt spm-train`)"
        )
    return processor
