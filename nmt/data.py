"""Parallel corpora: read, tokenize into a cached Arrow dataset, filter, and batch by tokens.

Flow: files (plain or gzip) or a Hugging Face dataset -> ``src``/``tgt`` text columns ->
``datasets.map`` adds ``src_ids``/``tgt_ids``/``src_len``/``tgt_len`` (cached on disk, so a second
run reads Arrow instead of tokenizing) -> filters with a counted :class:`FilterReport` ->
:class:`TokenBatchSampler` groups indices of similar length -> :func:`collate` pads them into a
:class:`Batch`. :class:`StreamingBatches` does the same in bounded memory, pool by pool, for
corpora too large to tokenize ahead into the cache.

Lengths are counted in subword pieces without BOS/EOS; the target side of a batch has one more
position (``[BOS]+y`` as input, ``y+[EOS]`` as output).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import itertools
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import torch

from nmt.config import DataConfig
from nmt.errors import NMTError
from nmt.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer

_GZIP_MAGIC = b"\x1f\x8b"

_TEXT_FEATURES = datasets.Features(
    {"src": datasets.Value("string"), "tgt": datasets.Value("string")}
)
_ENCODED_FEATURES = datasets.Features(
    {
        **_TEXT_FEATURES,
        "src_ids": datasets.List(datasets.Value("int32")),
        "tgt_ids": datasets.List(datasets.Value("int32")),
        "src_len": datasets.Value("int32"),
        "tgt_len": datasets.Value("int32"),
    }
)


class DataError(NMTError):
    """A corpus is missing, unreadable, misaligned or empty."""


# ---- reading text -------------------------------------------------------------------------------


def iter_lines(path: str | Path) -> Iterator[str]:
    """Yield the lines of a UTF-8 file, gzipped or not (told by its magic bytes, not its name).

    Only the line ending (``\\n`` or ``\\r\\n``) and a leading byte-order mark are removed; the
    rest of each line, spaces included, is kept. Lines are split at ``\\n`` only, so a stray
    ``\\r`` or U+2028 inside a line cannot shift the alignment of a parallel corpus.
    """
    path = Path(path)
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot open: {error.strerror}") from None
    with raw:
        stream = raw
        if raw.peek(2)[:2] == _GZIP_MAGIC:
            stream = io.BufferedReader(gzip.GzipFile(fileobj=raw))
        number = 0
        try:
            for number, line in enumerate(stream, 1):
                if line.endswith(b"\n"):
                    line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise DataError(
                        f"{path}:{number}: invalid UTF-8 (byte {error.start + 1} of the line: "
                        f"{line[error.start : error.start + 1]!r}); convert the file to UTF-8"
                    ) from None
                if number == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                yield text
        except (EOFError, OSError, zlib.error) as error:
            raise DataError(
                f"{path}:{number + 1}: cannot read (corrupt or truncated?): {error}"
            ) from None


def read_lines(path: str | Path) -> list[str]:
    """All lines of a plain or gzipped UTF-8 file (see :func:`iter_lines`)."""
    return list(iter_lines(path))


def iter_parallel(src_paths: Sequence[str], tgt_paths: Sequence[str]) -> Iterator[tuple[str, str]]:
    """Yield aligned (source, target) pairs from pairs of files, one file pair after another.

    A pair of files with different line counts is an error naming both files and both counts;
    it is found when the shorter file ends, so pairs before that point have been yielded.
    """
    if len(src_paths) != len(tgt_paths):
        raise DataError(
            f"{len(src_paths)} source files but {len(tgt_paths)} target files; "
            "list them in pairs, line-aligned"
        )
    for src_path, tgt_path in zip(src_paths, tgt_paths, strict=True):
        src_lines, tgt_lines = iter_lines(src_path), iter_lines(tgt_path)
        count = 0
        for src, tgt in itertools.zip_longest(src_lines, tgt_lines):
            if src is None or tgt is None:
                # One file ended; what is left of the other (this line included) is its surplus.
                src_count = count + (src is not None) + sum(1 for _ in src_lines)
                tgt_count = count + (tgt is not None) + sum(1 for _ in tgt_lines)
                raise DataError(
                    f"line counts differ: {src_path} has {src_count} lines, {tgt_path} has "
                    f"{tgt_count}; parallel files must be line-aligned"
                )
            count += 1
            yield src, tgt


def read_parallel(
    src_paths: Sequence[str], tgt_paths: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Concatenate pairs of line-aligned files into two equally long lists."""
    src, tgt = [], []
    for s, t in iter_parallel(src_paths, tgt_paths):
        src.append(s)
        tgt.append(t)
    return src, tgt


def load_hf_parallel(
    name: str,
    config: str | None,
    split: str,
    src_column: str,
    tgt_column: str,
    streaming: bool = False,
    cache_dir: str | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """Load a Hugging Face dataset (hub name or local path) as two string columns, src and tgt.

    ``src_column``/``tgt_column`` may be dotted to reach into nested records, e.g.
    ``translation.en`` for the ``{"translation": {"en": ..., "es": ...}}`` layout of WMT/OPUS.
    """
    try:
        dataset = datasets.load_dataset(
            name, config, split=split, streaming=streaming, cache_dir=cache_dir
        )
    except (ConnectionError, FileNotFoundError) as error:
        raise DataError(
            f"Hugging Face dataset '{name}' (config {config}, split {split}) could not be loaded: "
            f"{error}. Without internet access only datasets already in the cache "
            "(HF_DATASETS_OFFLINE=1) or local paths can be used."
        ) from None
    if dataset.features is not None:
        columns = dataset.features.flatten()
        for column in (src_column, tgt_column):
            if column not in columns:
                raise DataError(
                    f"Hugging Face dataset '{name}' (split {split}) has no column '{column}' "
                    f"(columns: {', '.join(columns)}); set data.hf_src_column / data.hf_tgt_column"
                )
    return dataset.map(
        _pick_columns,
        batched=True,
        fn_kwargs={"src_column": src_column, "tgt_column": tgt_column},
        remove_columns=dataset.column_names,
    ).select_columns(["src", "tgt"])


def _pick_columns(batch: dict[str, list], src_column: str, tgt_column: str) -> dict[str, list]:
    return {"src": _column_values(batch, src_column), "tgt": _column_values(batch, tgt_column)}


def _column_values(batch: dict[str, list], column: str) -> list:
    head, *keys = column.split(".")
    values = batch[head]
    for key in keys:
        values = [value[key] for value in values]
    return values


# ---- tokenizing and filtering ---------------------------------------------------------------------

_REASONS = ("kept", "empty", "too_short", "too_long", "ratio")  # codes 0..4 of drop_reasons


@dataclass
class FilterReport:
    """How many pairs each filter dropped. Filters run in this order and a pair is counted once,
    under the first it fails: ``empty`` (either side blank), ``too_short``/``too_long`` (either
    side outside [min_len, max_len] pieces), ``ratio`` (longer/shorter side > max_ratio pieces)."""

    total: int = 0
    empty: int = 0
    too_short: int = 0
    too_long: int = 0
    ratio: int = 0

    @property
    def kept(self) -> int:
        return self.total - self.empty - self.too_short - self.too_long - self.ratio

    def add(self, reasons: np.ndarray) -> None:
        """Count the codes returned by :func:`drop_reasons`."""
        counts = np.bincount(reasons, minlength=len(_REASONS))
        self.total += len(reasons)
        for field_name, count in zip(_REASONS[1:], counts[1:], strict=True):
            setattr(self, field_name, getattr(self, field_name) + int(count))

    def __str__(self) -> str:
        dropped = ", ".join(f"{getattr(self, name):,} {name}" for name in _REASONS[1:])
        return f"kept {self.kept:,} of {self.total:,} pairs (dropped: {dropped})"


def drop_reasons(
    src_len: np.ndarray, tgt_len: np.ndarray, config: DataConfig, length_filters: bool = True
) -> np.ndarray:
    """Code each pair 0 (kept) or by the first filter it fails: 1 empty, 2 too short, 3 too long,
    4 length ratio. ``length_filters=False`` (dev sets) applies only the empty filter."""
    src_len = np.asarray(src_len, dtype=np.int64)
    tgt_len = np.asarray(tgt_len, dtype=np.int64)
    empty = (src_len == 0) | (tgt_len == 0)
    if not length_filters:
        return empty.astype(np.int8)
    shorter = np.maximum(np.minimum(src_len, tgt_len), 1)
    conditions = [
        empty,
        (src_len < config.min_len) | (tgt_len < config.min_len),
        (src_len > config.max_len) | (tgt_len > config.max_len),
        np.maximum(src_len, tgt_len) / shorter > config.max_ratio,
    ]
    return np.select(conditions, [1, 2, 3, 4], 0).astype(np.int8)


def drop_final_periods(
    src: list[str], tgt: list[str], fraction: float
) -> tuple[list[str], list[str]]:
    """Remove the final period from both sides of about ``fraction`` of the pairs ending in one.

    Nearly every training sentence ends in punctuation and the few that do not are headlines, so
    a model trained on them alone translates any unpunctuated line as a headline: Title Case,
    dropped words (es-en newstest headlines: chrF 6 points under the punctuated lines). A pair is
    picked by a hash of its source text, so every run and every rerun sees the same corpus.
    """
    if fraction <= 0:
        return src, tgt
    src, tgt = list(src), list(tgt)
    threshold = fraction * 2**32
    for i, (source, target) in enumerate(zip(src, tgt, strict=True)):
        source, target = source.rstrip(), target.rstrip()
        if (
            _ends_in_one_period(source)
            and _ends_in_one_period(target)
            and zlib.crc32(source.encode()) < threshold
        ):
            src[i], tgt[i] = source[:-1].rstrip(), target[:-1].rstrip()
    return src, tgt


def _ends_in_one_period(text: str) -> bool:
    return text.endswith(".") and not text.endswith("..")  # an ellipsis is kept


def encode_pairs(
    batch: dict[str, list[str]], tokenizer: Tokenizer, drop_final_period: float = 0.0
) -> dict[str, list]:
    """``datasets.map`` function: add piece ids and lengths (after :func:`drop_final_periods`,
    whose changed text replaces ``src``/``tgt``). A blank side (only whitespace) encodes to no
    pieces, so the empty filter sees it as empty."""
    src, tgt = drop_final_periods(batch["src"], batch["tgt"], drop_final_period)
    texts = {"src": src, "tgt": tgt} if drop_final_period > 0 else {}
    src = [text if text.strip() else "" for text in src]
    tgt = [text if text.strip() else "" for text in tgt]
    src_ids = tokenizer.encode_src(src)
    tgt_ids = tokenizer.encode_tgt(tgt)
    return {
        **texts,
        "src_ids": src_ids,
        "tgt_ids": tgt_ids,
        "src_len": [len(ids) for ids in src_ids],
        "tgt_len": [len(ids) for ids in tgt_ids],
    }


def prepare_dataset(
    config: DataConfig, tokenizer: Tokenizer, split: str = "train"
) -> tuple[datasets.Dataset, FilterReport]:
    """Tokenize and filter the train or dev corpus named by ``config``.

    Returns a dataset with columns ``src``, ``tgt`` (text), ``src_ids``, ``tgt_ids`` (int32
    pieces), ``src_len``, ``tgt_len``, and the report of what the filters dropped. Training data
    goes through every filter; dev data only loses empty pairs, so validation scores stay
    comparable across filter settings. A split left with no pair is a :class:`DataError` naming
    its files and the report: training on nothing would write an untrained model. Tokenization
    is cached in Arrow under ``config.cache_dir`` (the datasets default when None), keyed by the
    corpus files' path, size and modification time and by the tokenizer's models: a second run
    only reads the cache.
    """
    if split == "train":
        text = _train_text(config)
    elif split == "dev":
        if not config.dev_src or not config.dev_tgt:
            raise DataError("no dev corpus: set data.dev_src and data.dev_tgt")
        text = _files_dataset([config.dev_src], [config.dev_tgt], config.cache_dir)
    else:
        raise DataError(f"unknown split '{split}': expected train or dev")
    encoded = text.map(
        encode_pairs,
        batched=True,
        fn_kwargs={
            "tokenizer": tokenizer,
            "drop_final_period": config.drop_final_period if split == "train" else 0.0,
        },
        features=_ENCODED_FEATURES,
        num_proc=config.num_proc if config.num_proc > 1 else None,
        desc=f"tokenizing {split}",
    )
    src_len, tgt_len = dataset_lengths(encoded)
    reasons = drop_reasons(src_len, tgt_len, config, length_filters=split == "train")
    report = FilterReport()
    report.add(reasons)
    if report.kept == 0:
        raise _no_pairs_error(config, split, report)
    if report.kept < report.total:
        # A filtered copy rather than select(): an index mapping makes every later column read
        # gather row by row (seconds and a gigabyte for 370k pairs); this Arrow-only pass is
        # cached like the tokenization.
        encoded = (
            encoded.with_format("arrow")
            .map(
                _keep_rows,
                batched=True,
                batch_size=10_000,
                with_indices=True,
                fn_kwargs={"keep": reasons == 0},
                features=_ENCODED_FEATURES,
                desc=f"filtering {split}",
            )
            .with_format(None)
        )
    return encoded, report


def _keep_rows(batch: pa.Table, indices: list[int], keep: np.ndarray) -> pa.Table:
    return batch.filter(pa.array(keep[np.asarray(indices)]))


def _corpus_name(config: DataConfig, split: str) -> str:
    """The files (or the Hugging Face dataset) a split is read from, as errors name them."""
    if split == "dev":
        return f"{config.dev_src}, {config.dev_tgt}"
    if config.train_src:
        return ", ".join([*config.train_src, *config.train_tgt])
    return f"Hugging Face dataset '{config.hf_name}' (split {config.hf_split})"


def _no_pairs_error(config: DataConfig, split: str, report: FilterReport) -> DataError:
    """The error for a corpus that leaves no pair: it names the corpus and what the filters did."""
    corpus = _corpus_name(config, split)
    if report.total == 0:
        return DataError(f"{corpus}: no lines; the {split} corpus is empty")
    return DataError(
        f"{corpus}: no {split} pair is left after the filters: {report}. Check that both sides "
        "hold text (a pair with a blank side is dropped) and, for training, that data.min_len, "
        "data.max_len and data.max_ratio suit the corpus"
    )


def dataset_lengths(dataset: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The ``src_len`` and ``tgt_len`` columns as numpy arrays, e.g. for :class:`TokenBatchSampler`."""
    table = dataset.select_columns(["src_len", "tgt_len"]).with_format("arrow")[:]
    return table.column("src_len").to_numpy(), table.column("tgt_len").to_numpy()


def _train_text(
    config: DataConfig, streaming: bool = False
) -> datasets.Dataset | datasets.IterableDataset:
    """The training corpus as ``src``/``tgt`` text: local files first, else the HF dataset."""
    if config.train_src and streaming:
        return datasets.IterableDataset.from_generator(  # no features: casting rows costs 10x
            _generate_pairs,
            gen_kwargs={"src_paths": config.train_src, "tgt_paths": config.train_tgt},
        )
    if config.train_src:
        return _files_dataset(config.train_src, config.train_tgt, config.cache_dir)
    if config.hf_name:
        return load_hf_parallel(
            config.hf_name,
            config.hf_config,
            config.hf_split,
            config.hf_src_column,
            config.hf_tgt_column,
            streaming=streaming,
            cache_dir=config.cache_dir,
        )
    raise DataError("no training corpus: set data.train_src and data.train_tgt, or data.hf_name")


def _files_dataset(
    src_paths: Sequence[str], tgt_paths: Sequence[str], cache_dir: str | None
) -> datasets.Dataset:
    """Parallel files as an Arrow dataset on disk, rebuilt only when a file changes.

    Files without a single line are refused here, by name: ``datasets`` cannot build a dataset
    of no rows and would fail with a bare ``ValueError`` ('Instruction "train" corresponds to no
    data!')."""
    key = hashlib.sha256(b"nmt.data.files/1")
    for path in [*src_paths, *tgt_paths]:
        try:
            stat = Path(path).stat()
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        key.update(f"\0{Path(path).resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    if next(iter_parallel(src_paths, tgt_paths), None) is None:
        raise DataError(f"{', '.join([*src_paths, *tgt_paths])}: no lines; the corpus is empty")
    try:
        return datasets.Dataset.from_generator(
            _generate_pairs,
            features=_TEXT_FEATURES,
            gen_kwargs={"src_paths": list(src_paths), "tgt_paths": list(tgt_paths)},
            cache_dir=cache_dir,
            fingerprint=key.hexdigest()[:32],
        )
    except datasets.exceptions.DatasetGenerationError as error:
        if isinstance(error.__cause__, NMTError):
            raise error.__cause__ from None
        raise


def _generate_pairs(src_paths: list[str], tgt_paths: list[str]) -> Iterator[dict[str, str]]:
    for src, tgt in iter_parallel(src_paths, tgt_paths):
        yield {"src": src, "tgt": tgt}


# ---- batching -----------------------------------------------------------------------------------


def token_batches(
    src_len: np.ndarray, tgt_len: np.ndarray, max_tokens: int, rng: np.random.Generator | None
) -> list[np.ndarray]:
    """Group indices into batches of at most ``max_tokens`` padded target tokens.

    The budget is ``batch size * (longest target + 1)``, the size of ``tgt_out`` with its EOS
    and padding, because the decoder's output layer over that grid is what fills memory. Indices
    are sorted by target length, then source length, so both sides of a batch are nearly equally
    long (tools/data_stats.py: under 5% padding on either side of the shared training corpora;
    a set of a few thousand pairs pads its source side more, as a batch then spans every source
    length of its target length). ``rng`` breaks ties between equal lengths at random and
    shuffles the batch order (None keeps both deterministic). A pair longer than the budget gets
    a batch of its own.
    """
    n = len(tgt_len)
    tie_break = rng.random(n) if rng is not None else np.arange(n)
    order = np.lexsort((tie_break, src_len, tgt_len))
    cost = np.asarray(tgt_len, dtype=np.int64)[order] + 1  # non-decreasing along order
    batches = []
    start = 0
    for end in range(1, n + 1):
        # Adding order[end-1] makes the batch end-start long with its longest target last.
        if (end - start) * cost[end - 1] > max_tokens and end - 1 > start:
            batches.append(order[start : end - 1])
            start = end - 1
    if start < n:
        batches.append(order[start:])
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def shard_batches(batches: list[np.ndarray], num_replicas: int, rank: int) -> list[np.ndarray]:
    """Rank ``r`` takes batches r, r+N, ...; the tail is cut so every rank gets as many batches."""
    usable = len(batches) // num_replicas * num_replicas
    return batches[rank:usable:num_replicas]


class TokenBatchSampler:
    """Length-bucketed token batches of dataset indices, shuffled per epoch, resumable, shardable.

    Every rank computes the same batches (same seed and epoch) and keeps its share (see
    :func:`shard_batches`), so no pair is seen twice per epoch across ranks. Iterating to the end
    of an epoch advances to the next, so ``set_epoch`` is only needed to jump. ``state_dict``
    records the epoch and how many batches of it have been handed out; after
    ``load_state_dict`` iteration continues with the next batch. With a DataLoader that
    prefetches (``num_workers > 0``), batches are handed out before the trainer uses them: keep
    the trainer's own count and pass it to ``load_state_dict`` instead.
    """

    def __init__(
        self,
        src_lengths: Sequence[int] | np.ndarray,
        tgt_lengths: Sequence[int] | np.ndarray,
        max_tokens: int,
        seed: int,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        self.src_lengths = np.asarray(src_lengths, dtype=np.int64)
        self.tgt_lengths = np.asarray(tgt_lengths, dtype=np.int64)
        if self.src_lengths.shape != self.tgt_lengths.shape:
            raise DataError(
                f"TokenBatchSampler: {len(self.src_lengths)} source lengths but "
                f"{len(self.tgt_lengths)} target lengths"
            )
        if max_tokens < 1:
            raise DataError(f"TokenBatchSampler: max_tokens must be positive, got {max_tokens}")
        if not 0 <= rank < num_replicas:
            raise DataError(f"TokenBatchSampler: rank {rank} is not in [0, {num_replicas})")
        self.max_tokens = max_tokens
        self.seed = seed
        self.shuffle = shuffle
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.consumed = 0
        self._cached: tuple[int, list[np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first batch; setting the current epoch again changes nothing."""
        if epoch != self.epoch:
            self.epoch = epoch
            self.consumed = 0

    def _batches(self) -> list[np.ndarray]:
        """This rank's batches for the current epoch."""
        if self._cached is None or self._cached[0] != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch]) if self.shuffle else None
            batches = token_batches(self.src_lengths, self.tgt_lengths, self.max_tokens, rng)
            self._cached = (self.epoch, shard_batches(batches, self.num_replicas, self.rank))
        return self._cached[1]

    def __len__(self) -> int:
        """Batches per epoch for this rank, counting those already consumed."""
        return len(self._batches())

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        for position in range(self.consumed, len(batches)):
            self.consumed = position + 1
            yield batches[position].tolist()
        self.epoch += 1
        self.consumed = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self.consumed = int(state["consumed"])


class PackedIds:
    """Variable-length id sequences in one flat int32 array plus offsets.

    A training corpus held as Python lists costs about 36 bytes a token (an int object and a
    pointer); packed it costs 4, which keeps 10M-pair corpora in memory.
    """

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        self.values = values  # (total tokens,) int32
        self.offsets = offsets  # (rows + 1,) int64

    @classmethod
    def from_column(cls, dataset: datasets.Dataset, column: str) -> PackedIds:
        """Read a list-of-int column of ``dataset`` straight from Arrow, without Python objects."""
        array = dataset.with_format("arrow", columns=[column])[:].column(column).combine_chunks()
        offsets = array.offsets.to_numpy().astype(np.int64)
        values = array.values.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        return cls(values, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> list[int]:
        return self.values[self.offsets[row] : self.offsets[row + 1]].tolist()


def sort_batches(lengths: Sequence[int], max_sentences: int) -> list[list[int]]:
    """Inference batches: indices longest first, ``max_sentences`` at a time. The caller puts the
    outputs back in input order by these indices."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + max_sentences] for i in range(0, len(order), max_sentences)]


@dataclass
class Batch:
    """Padded tensors for one training step. The source carries no BOS/EOS."""

    src: torch.Tensor  # (B, S) int64, PAD_ID after each sentence
    src_lengths: torch.Tensor  # (B,) int64
    tgt_in: torch.Tensor  # (B, T) int64, [BOS] + y, T = longest y + 1
    tgt_out: torch.Tensor  # (B, T) int64, y + [EOS]
    tgt_lengths: torch.Tensor  # (B,) int64, len(y) + 1
    n_tgt_tokens: int  # sum of tgt_lengths: the positions the loss counts

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on ``device``."""
        moved = {
            f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **moved)


def collate(examples: list[dict[str, Any]]) -> Batch:
    """Pad dataset rows (with ``src_ids`` and ``tgt_ids``) into a :class:`Batch`; order is kept.

    Rows are padded as Python lists and converted once: three times faster than filling a
    tensor row by row, which matters when the data loader runs in the training process."""
    src_ids = [list(e["src_ids"]) for e in examples]
    tgt_ids = [list(e["tgt_ids"]) for e in examples]
    src_len = max(map(len, src_ids))
    tgt_len = max(map(len, tgt_ids)) + 1
    src = [x + [PAD_ID] * (src_len - len(x)) for x in src_ids]
    tgt_in = [[BOS_ID, *y] + [PAD_ID] * (tgt_len - 1 - len(y)) for y in tgt_ids]
    tgt_out = [[*y, EOS_ID] + [PAD_ID] * (tgt_len - 1 - len(y)) for y in tgt_ids]
    tgt_lengths = torch.tensor([len(y) + 1 for y in tgt_ids], dtype=torch.int64)
    return Batch(
        src=torch.tensor(src, dtype=torch.int64),
        src_lengths=torch.tensor([len(x) for x in src_ids], dtype=torch.int64),
        tgt_in=torch.tensor(tgt_in, dtype=torch.int64),
        tgt_out=torch.tensor(tgt_out, dtype=torch.int64),
        tgt_lengths=tgt_lengths,
        n_tgt_tokens=int(tgt_lengths.sum()),
    )


# ---- streaming ------------------------------------------------------------------------------------


class StreamingBatches:
    """Training batches from a corpus too large for memory: pairs are read lazily (local files or
    a streamed Hugging Face dataset), ``pool_size`` at a time, tokenized, filtered like
    :func:`prepare_dataset`, and cut into token batches within the pool as by
    :class:`TokenBatchSampler`. Pools follow the corpus order; batch order is shuffled within
    each pool. ``report`` counts the filters over the pairs read so far in the current pass. A
    pass that yields no batch ends in a :class:`DataError` naming the files and the report, so
    training cannot loop over an empty corpus or save an untrained model.
    """

    def __init__(
        self,
        config: DataConfig,
        tokenizer: Tokenizer,
        max_tokens: int,
        seed: int,
        pool_size: int = 100_000,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if not 0 <= rank < num_replicas:
            raise DataError(f"StreamingBatches: rank {rank} is not in [0, {num_replicas})")
        self.config = config
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.seed = seed
        self.pool_size = pool_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.report = FilterReport()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[Batch]:
        self.report = FilterReport()
        batches = 0
        for pool_number, pool in enumerate(self._pools()):
            for batch in self._pool_batches(pool, pool_number):
                batches += 1
                yield batch
        if batches == 0:
            if self.report.kept == 0:
                raise _no_pairs_error(self.config, "train", self.report)
            raise DataError(
                f"{_corpus_name(self.config, 'train')}: {self.report}, but no pool of "
                f"{self.pool_size:,} pairs makes a batch for each of the {self.num_replicas} "
                "processes; train with fewer processes or a smaller training.max_tokens"
            )
        self.epoch += 1

    def _pools(self) -> Iterator[dict[str, list[str]]]:
        """The corpus in its order, ``pool_size`` pairs at a time (the last pool may be smaller)."""
        rows = iter(_train_text(self.config, streaming=True))
        while pool := list(itertools.islice(rows, self.pool_size)):
            yield {"src": [row["src"] for row in pool], "tgt": [row["tgt"] for row in pool]}

    def _pool_batches(self, pool: dict[str, list[str]], pool_number: int) -> Iterator[Batch]:
        encoded = encode_pairs(pool, self.tokenizer, self.config.drop_final_period)
        reasons = drop_reasons(encoded["src_len"], encoded["tgt_len"], self.config)
        self.report.add(reasons)
        kept = np.flatnonzero(reasons == 0)
        src_len = np.asarray(encoded["src_len"])[kept]
        tgt_len = np.asarray(encoded["tgt_len"])[kept]
        rng = np.random.default_rng([self.seed, self.epoch, pool_number])
        batches = token_batches(src_len, tgt_len, self.max_tokens, rng)
        for batch in shard_batches(batches, self.num_replicas, self.rank):
            rows = kept[batch]
            yield collate(
                [{"src_ids": encoded["src_ids"][i], "tgt_ids": encoded["tgt_ids"][i]} for i in rows]
            )
