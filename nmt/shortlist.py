"""Lexical shortlists: the output layer over the few target pieces a batch can need.

The output layer (decoder hidden x target vocabulary) is the largest product of a search step.
A source sentence can only need a few hundred of the 8,000 target pieces: the likely
translations of its pieces, plus the pieces every sentence uses (Marian's lexical shortlist,
built here from our own statistics). ``nmt shortlist`` stores, in ``MODEL_DIR/shortlist.pt``,
each source piece's most likely target pieces and the most frequent target pieces; with
``decoding.shortlist`` the translator restricts the output layer of each batch to the union of
its pieces' lists (:class:`Shortlisted`), and the search runs over that smaller vocabulary. The
probabilities are renormalised over the shortlist, as in Marian.

Two ways to learn which target pieces translate a source piece (``method``):

* ``cooccurrence``: how often the two appear in the same training pair, p(t | s) = c(s, t) / c(s);
* ``alignment``: the model's own attention under forced decoding of training pairs: each target
  piece counts for the source piece it attends to most (:func:`nmt.scoring.alignment_counts`).

The most frequent target pieces are in every batch's list anyway, so a source piece's own list
holds the best of the others.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.ao.nn.quantized import dynamic as quantized_dynamic

from nmt.checkpoint import save_checkpoint
from nmt.constants import EOS_ID, PAD_ID
from nmt.errors import NMTError

SPECIALS = torch.arange(EOS_ID + 1)  # PAD, UNK, BOS, EOS: ids 0..3, always kept, in place
METHODS = ("cooccurrence", "alignment")


@dataclass
class Shortlist:
    """Each source piece's candidate target pieces and the frequent target pieces."""

    candidates: Tensor  # (src_vocab, per_source) target ids, -1 where a piece has fewer
    frequent: Tensor  # (K,) target ids
    tgt_vocab_size: int
    method: str

    def ids_for(self, src: Tensor) -> Tensor:
        """The sorted target ids a batch of (batch, src_len) source ids may produce: the
        specials, the frequent pieces and every source piece's candidates. Sorted with the
        specials first, a special keeps its id as its index in the restricted vocabulary."""
        candidates = self.candidates.to(src.device)[src[src != PAD_ID]].flatten()
        pool = torch.cat(
            [SPECIALS.to(src.device), self.frequent.to(src.device), candidates[candidates >= 0]]
        )
        return torch.unique(pool, sorted=True)

    def save(self, path: str | Path) -> None:
        """Atomically, like a checkpoint."""
        state = {
            "candidates": self.candidates,
            "frequent": self.frequent,
            "tgt_vocab_size": self.tgt_vocab_size,
            "method": self.method,
        }
        save_checkpoint(state, path)

    @classmethod
    def load(cls, path: str | Path, src_vocab_size: int, tgt_vocab_size: int) -> Shortlist:
        if not Path(path).is_file():
            raise NMTError(f"{path} not found: build the model's shortlist with `nmt shortlist`")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a truncated or foreign file
            raise NMTError(
                f"{path}: not a shortlist written by `nmt shortlist` ({error})"
            ) from None
        shortlist = cls(
            state["candidates"], state["frequent"], state["tgt_vocab_size"], state["method"]
        )
        if (
            shortlist.candidates.size(0) != src_vocab_size
            or shortlist.tgt_vocab_size != tgt_vocab_size
        ):
            raise NMTError(
                f"{path} was built for vocabularies of {shortlist.candidates.size(0)} and "
                f"{shortlist.tgt_vocab_size} pieces, the model has {src_vocab_size} and "
                f"{tgt_vocab_size}: build it again with `nmt shortlist`"
            )
        return shortlist


def build_shortlist(
    counts: np.ndarray, tgt_frequency: np.ndarray, per_source: int, frequent: int, method: str
) -> Shortlist:
    """The shortlist from (src_vocab, tgt_vocab) association counts and target piece counts:
    the ``frequent`` most frequent target pieces, and for each source piece the ``per_source``
    other target pieces with the highest p(t | s) (counts above zero only)."""
    tgt_vocab = counts.shape[1]
    common = np.argsort(-tgt_frequency, kind="stable")
    common = common[common > EOS_ID][:frequent]
    scores = counts.astype(np.float32)
    scores[:, common] = 0  # in every batch's list already
    scores[:, : EOS_ID + 1] = 0
    per_source = min(per_source, tgt_vocab)
    top = np.argpartition(-scores, per_source - 1, axis=1)[:, :per_source]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    top, top_scores = np.take_along_axis(top, order, 1), np.take_along_axis(top_scores, order, 1)
    top[top_scores <= 0] = -1
    return Shortlist(
        torch.from_numpy(top.astype(np.int64)),
        torch.from_numpy(np.sort(common).astype(np.int64)),
        tgt_vocab,
        method,
    )


def cooccurrence_counts(
    pairs: Iterable[tuple[Sequence[int], Sequence[int]]], src_vocab: int, tgt_vocab: int
) -> tuple[np.ndarray, np.ndarray]:
    """(src_vocab, tgt_vocab) counts of pairs holding both pieces, and each target piece's
    count of pairs; counted in chunks of flat indices (one bincount per chunk)."""
    counts = np.zeros(src_vocab * tgt_vocab, dtype=np.int64)
    tgt_frequency = np.zeros(tgt_vocab, dtype=np.int64)
    chunk: list[np.ndarray] = []
    size = 0
    for src_ids, tgt_ids in pairs:
        source, target = np.unique(src_ids), np.unique(tgt_ids)
        tgt_frequency[target] += 1
        chunk.append((source[:, None] * tgt_vocab + target[None, :]).ravel())
        size += chunk[-1].size
        if size > 5_000_000:
            counts += np.bincount(np.concatenate(chunk), minlength=counts.size)
            chunk, size = [], 0
    if chunk:
        counts += np.bincount(np.concatenate(chunk), minlength=counts.size)
    return counts.reshape(src_vocab, tgt_vocab), tgt_frequency


class Shortlisted(nn.Module):
    """``model`` searched over the target ids ``ids`` only (sorted, specials first): what the
    search sees as token i is target piece ``ids[i]``. fp32 and int8 output layers alike."""

    def __init__(self, model: nn.Module, ids: Tensor) -> None:
        super().__init__()
        if getattr(model, "copy_gate", None) is not None:
            raise NMTError("a shortlist cannot restrict a copy-attention model's output")
        self.model = model
        self.ids = ids
        self.output = _restricted_linear(model.output_layer, ids)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[object, object]:
        return self.model.encode(src, src_lengths)

    def step(
        self, prev_tokens: Tensor, encoded: object, state: object
    ) -> tuple[Tensor, Tensor, object]:
        vector, weights, state = self.model.decoder.step(self.ids[prev_tokens], encoded, state)
        return torch.log_softmax(self.output(vector), dim=-1), weights, state


class _Rows(nn.Module):
    """A float output layer's rows ``ids``: the same weights, so the same logits at those ids."""

    def __init__(self, layer: nn.Linear, ids: Tensor) -> None:
        super().__init__()
        self.weight = layer.weight[ids]
        self.bias = None if layer.bias is None else layer.bias[ids]

    def forward(self, vector: Tensor) -> Tensor:
        return nn.functional.linear(vector, self.weight, self.bias)


def _restricted_linear(layer: nn.Module, ids: Tensor) -> nn.Module:
    """The rows ``ids`` of an output layer, float or dynamically quantized (int8)."""
    if isinstance(layer, quantized_dynamic.Linear):
        return _Int8Rows(layer, ids)
    return _Rows(layer, ids)


class _Int8Rows(nn.Module):
    """A dynamically quantized output layer's rows ``ids``: the same int8 values and scales, and
    the same kernel call as the layer's own forward, so the same logits at those ids.

    Built for every batch, so it is built cheaply: the int8 rows are gathered from values
    unpacked once per layer (quantizing float rows again took 10 ms for 2,500 rows) and packed
    once (``quantized_dynamic.Linear``'s constructor would first pack a matrix of zeros).
    ``torch._make_per_channel_quantized_tensor`` is private PyTorch; if it ever changes meaning,
    tests/test_shortlist.py's whole-vocabulary shortlist stops equalling no shortlist.
    """

    def __init__(self, layer: quantized_dynamic.Linear, ids: Tensor) -> None:
        super().__init__()
        values, scales, zero_points, bias = _unpacked(layer)
        weight = torch._make_per_channel_quantized_tensor(
            values[ids], scales[ids], zero_points[ids], 0
        )
        self.packed = torch.ops.quantized.linear_prepack(
            weight, None if bias is None else bias[ids]
        )
        # what quantized_dynamic.Linear.forward passes for a layer of this version
        self.reduce_range = layer.version is not None and layer.version >= 4

    def forward(self, vector: Tensor) -> Tensor:
        return torch.ops.quantized.linear_dynamic(vector, self.packed, self.reduce_range)


_UNPACKED: weakref.WeakKeyDictionary[nn.Module, tuple[Tensor, Tensor, Tensor, Tensor | None]] = (
    weakref.WeakKeyDictionary()
)


def _unpacked(layer: quantized_dynamic.Linear) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """An int8 layer's weights as int8 rows with per-row scales and zero points, and its bias;
    unpacked once per layer."""
    if layer not in _UNPACKED:
        weight = layer.weight()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            scales = weight.q_per_channel_scales()
            zero_points = weight.q_per_channel_zero_points()
        else:
            scales = torch.full((weight.size(0),), weight.q_scale(), dtype=torch.float64)
            zero_points = torch.full((weight.size(0),), weight.q_zero_point(), dtype=torch.long)
        _UNPACKED[layer] = (weight.int_repr(), scales, zero_points, layer.bias())
    return _UNPACKED[layer]


def restrict(model: nn.Module, ids: Tensor) -> nn.Module:
    """``model`` (one model or an ensemble) over the target ids ``ids``."""
    from nmt.ensemble import Ensemble

    if isinstance(model, Ensemble):
        return Ensemble([Shortlisted(member, ids) for member in model.models])
    return Shortlisted(model, ids)
