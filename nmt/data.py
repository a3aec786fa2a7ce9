"""Parallel corpora: read, tokenize into a cached Arrow dataset, and filter.

Flow: files (plain or gzip, read by :mod:`nmt.textio`) or a Hugging Face dataset -> ``src``/``tgt``
text columns -> ``datasets.map`` adds ``src_ids``/``tgt_ids``/``src_len``/``tgt_len`` (cached on
disk, so a second run reads Arrow instead of tokenizing) -> filters with a counted
:class:`FilterReport`. :mod:`nmt.batching` turns the result into batches (and streams corpora too
large to prepare ahead). Lengths are counted in subword pieces without BOS/EOS.
"""

from __future__ import annotations

import hashlib
import itertools
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa

from nmt.config import DataConfig
from nmt.errors import NMTError
from nmt.textio import iter_lines
from nmt.tokenizer import Tokenizer

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
        text = train_text(config)
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
        raise no_pairs_error(config, split, report)
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


def corpus_name(config: DataConfig, split: str) -> str:
    """The files (or the Hugging Face dataset) a split is read from, as errors name them."""
    if split == "dev":
        return f"{config.dev_src}, {config.dev_tgt}"
    if config.train_src:
        return ", ".join([*config.train_src, *config.train_tgt])
    return f"Hugging Face dataset '{config.hf_name}' (split {config.hf_split})"


def no_pairs_error(config: DataConfig, split: str, report: FilterReport) -> DataError:
    """The error for a corpus that leaves no pair: it names the corpus and what the filters did."""
    corpus = corpus_name(config, split)
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


def train_text(
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
