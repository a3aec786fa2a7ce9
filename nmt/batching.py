"""Batches for training and validation: token-bucketed sampling, sharding across processes,
padding into tensors, and streaming from corpora too large to prepare ahead.

Lengths are counted in subword pieces without BOS/EOS; the target side of a batch has one more
position (``[BOS]+y`` as input, ``y+[EOS]`` as output).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch

from nmt.config import DataConfig
from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.data import (
    DataError,
    FilterReport,
    corpus_name,
    dataset_lengths,
    drop_reasons,
    encode_pairs,
    no_pairs_error,
    train_text,
)
from nmt.tokenizer import Tokenizer

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

    def loss(
        self, model: torch.nn.Module, label_smoothing: float = 0.0
    ) -> tuple[torch.Tensor, int, int]:
        """The summed token loss of this batch through ``model`` (a ``Seq2Seq``, or its DDP
        wrapper so that gradients get synchronised), its target tokens, and those predicted
        right."""
        return model(
            self.src, self.src_lengths, self.tgt_in, self.tgt_out, self.tgt_lengths, label_smoothing
        )


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
                raise no_pairs_error(self.config, "train", self.report)
            raise DataError(
                f"{corpus_name(self.config, 'train')}: {self.report}, but no pool of "
                f"{self.pool_size:,} pairs makes a batch for each of the {self.num_replicas} "
                "processes; train with fewer processes or a smaller training.max_tokens"
            )
        self.epoch += 1

    def _pools(self) -> Iterator[dict[str, list[str]]]:
        """The corpus in its order, ``pool_size`` pairs at a time (the last pool may be smaller)."""
        rows = iter(train_text(self.config, streaming=True))
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


# ---- what the trainer reads ---------------------------------------------------------------------


class TrainingBatches:
    """This process's training batches, epoch after epoch, and its position among them.

    One interface for both sources (:class:`PreparedBatches`, :class:`StreamedBatches`): the
    trainer iterates :meth:`epoch_batches`, calls :meth:`next_epoch` at an epoch's end, and saves
    :meth:`position`, counted in global batches so that a resume may use another number of
    processes. Both sources are deterministic for a seed and epoch, which makes resuming exact.
    """

    def __init__(self, num_replicas: int):
        self.num_replicas = num_replicas
        self.epoch = 0
        self.consumed = 0  # batches of this epoch already trained on, by this process

    def epoch_batches(self) -> Iterator[Batch]:
        """The batches of the current epoch after the ``consumed`` ones, counting them."""
        raise NotImplementedError

    def epoch_report(self) -> str | None:
        """What the filters kept of the epoch just read, where that is only known after it."""
        return None

    def next_epoch(self) -> None:
        self.epoch, self.consumed = self.epoch + 1, 0

    def position(self) -> dict[str, int]:
        return {"epoch": self.epoch, "global_consumed": self.consumed * self.num_replicas}

    def restore(self, position: dict[str, int]) -> None:
        self.epoch = position["epoch"]
        self.consumed = position["global_consumed"] // self.num_replicas


class PreparedBatches(TrainingBatches):
    """Batches of a corpus tokenized ahead into the Arrow cache (:func:`prepare_dataset`)."""

    def __init__(
        self, dataset: datasets.Dataset, max_tokens: int, seed: int, num_replicas: int, rank: int
    ):
        super().__init__(num_replicas)
        self.src = PackedIds.from_column(dataset, "src_ids")
        self.tgt = PackedIds.from_column(dataset, "tgt_ids")
        src_len, tgt_len = dataset_lengths(dataset)
        self.sampler = TokenBatchSampler(
            src_len, tgt_len, max_tokens, seed, num_replicas=num_replicas, rank=rank
        )

    def epoch_batches(self) -> Iterator[Batch]:
        self.sampler.load_state_dict({"epoch": self.epoch, "consumed": self.consumed})
        for indices in self.sampler:
            self.consumed += 1
            yield collate([{"src_ids": self.src[i], "tgt_ids": self.tgt[i]} for i in indices])


class StreamedBatches(TrainingBatches):
    """Batches read and tokenized while training (:class:`StreamingBatches`); a resumed epoch
    reads and tokenizes its first batches again to skip them."""

    def __init__(self, stream: StreamingBatches):
        super().__init__(stream.num_replicas)
        self.stream = stream

    def epoch_batches(self) -> Iterator[Batch]:
        self.stream.set_epoch(self.epoch)
        for index, batch in enumerate(self.stream):
            if index >= self.consumed:
                self.consumed = index + 1
                yield batch

    def epoch_report(self) -> str | None:
        return str(self.stream.report)
