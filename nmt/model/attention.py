"""Attention over the encoder memory: Bahdanau (additive MLP) and Luong (dot, general).

Every variant splits its work in two: ``project_keys`` runs once per source sentence, and
``forward`` scores any number of decoder queries against those keys (one query per step while
decoding step by step, all target positions at once in the fused decoder).
"""

from __future__ import annotations

import math
import threading

import torch
from torch import Tensor, nn


class Attention(nn.Module):
    def project_keys(self, memory: Tensor) -> Tensor:
        """(batch, src_len, memory_size) -> keys, computed once per source."""
        raise NotImplementedError

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        """(batch, q_len, query_size), keys -> unnormalised scores (batch, q_len, src_len)."""
        raise NotImplementedError

    def forward(
        self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Return the context (batch, q_len, memory_size) and weights (batch, q_len, src_len).

        ``mask`` is (batch, src_len), True on real source tokens; padding gets zero weight.
        """
        scores = self.scores(query, keys)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights, memory)
        return context, weights


class BahdanauAttention(Attention):
    """score(q, k) = v . tanh(W_q q + W_k k), computed through the sigmoid.

    tanh(z) = 2 sigmoid(2z) - 1, so v . tanh(z) = 2 v . sigmoid(2z) - sum(v): the same scores up
    to a per-query constant, which the softmax ignores. PyTorch's CPU sigmoid runs ~4x faster than
    its tanh, and this product (every query x every source position x attention_size) is the
    largest elementwise operation of a decoding step. The factor 2 is folded into the keys (once
    per source) and into the projected queries.
    """

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.key_layer = nn.Linear(memory_size, attention_size, bias=False)
        self.query_layer = nn.Linear(query_size, attention_size, bias=False)
        self.energy_layer = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, memory: Tensor) -> Tensor:
        return self.key_layer(memory).mul_(2.0)  # (batch, src_len, attention_size): 2 W_k k

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        projected = self.query_layer(query).mul_(2.0)  # (batch, q_len, attention_size)
        # (batch, 1, src_len, attention) + (batch, q_len, 1, attention) -> (batch, q_len, src_len)
        keys, projected = keys.unsqueeze(1), projected.unsqueeze(2)
        shape = (keys.size(0), projected.size(1), keys.size(2), keys.size(3))
        if torch.is_grad_enabled() or math.prod(shape) > _SCRATCH_MAX:
            energy = (keys + projected).sigmoid_()  # autograd keeps it for the backward pass
        else:
            energy = torch.add(keys, projected, out=_scratch(shape, keys)).sigmoid_()
        return 2.0 * self.energy_layer(energy).squeeze(-1)


def _scratch(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A reused tensor of ``shape`` for this thread (searching without gradients).

    A search step's energy is its largest tensor; allocating it afresh every step (and faulting
    its pages in) made the add that fills it 1.5x slower. One buffer per thread keeps concurrent
    translators in separate threads apart; at most ``_SCRATCH_MAX`` elements are kept (teacher-
    forced validation batches allocate theirs as before).
    """
    size = math.prod(shape)
    buffer: Tensor | None = getattr(_SCRATCH, "buffer", None)
    if (
        buffer is None
        or buffer.numel() < size
        or buffer.dtype != like.dtype
        or buffer.device != like.device
        or buffer.is_inference() != torch.is_inference_mode_enabled()  # (validation: no_grad)
    ):
        buffer = torch.empty(size, dtype=like.dtype, device=like.device)
        _SCRATCH.buffer = buffer
    return buffer[:size].view(shape)


_SCRATCH = threading.local()
_SCRATCH_MAX = 1 << 24  # elements (64 MB in fp32): a beam step of 64 sentences x 5 uses ~2.5M


class LuongAttention(Attention):
    """score(q, k) = q . k (dot) or q . W k (general); W k is the precomputed key."""

    def __init__(self, query_size: int, memory_size: int, kind: str) -> None:
        super().__init__()
        if kind == "dot" and query_size != memory_size:
            raise ValueError(
                f"dot attention needs decoder_hidden ({query_size}) equal to the encoder output "
                f"size ({memory_size}); use 'general' attention or change the sizes"
            )
        self.key_layer = (
            nn.Linear(memory_size, query_size, bias=False) if kind == "general" else None
        )

    def project_keys(self, memory: Tensor) -> Tensor:
        return memory if self.key_layer is None else self.key_layer(memory)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))  # (batch, q_len, src_len)


def build_attention(
    kind: str, query_size: int, memory_size: int, attention_size: int = 0
) -> Attention:
    """``attention_size`` is Bahdanau's hidden layer (0: ``query_size``); Luong has none."""
    if kind == "bahdanau":
        return BahdanauAttention(query_size, memory_size, attention_size or query_size)
    if kind in ("dot", "general"):
        return LuongAttention(query_size, memory_size, kind)
    raise ValueError(f"unknown attention '{kind}' (choose bahdanau, dot or general)")
