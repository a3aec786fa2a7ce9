"""Label-smoothed cross entropy over the vocabulary, fused to touch the logits as few times as it can.

The (tokens, vocab) logits are the largest activation of a training step. ``F.cross_entropy``
materialises log-probabilities, and its backward writes several vocabulary-sized tensors. Here
the forward walks the logits in cache-sized chunks of rows and, besides the loss, writes the
gradient ``softmax - smoothed_target`` once, in the logits' precision; the backward only scales
it. The logits are freed after the forward, the saved gradient is all that is kept.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, gold: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
        # logits (tokens, vocab), possibly bf16/fp16 from autocast; sums are taken in fp32
        tokens, vocab = logits.shape
        dtype = torch.promote_types(logits.dtype, torch.float32)  # fp32 (fp64 stays fp64)
        grad = torch.empty_like(logits)  # d loss / d logits, finished by the backward's scale
        loss = logits.new_zeros((), dtype=dtype)
        correct = torch.zeros((), dtype=torch.long, device=logits.device)
        rows = tokens if logits.is_cuda else _CPU_ROWS
        for start in range(0, tokens, rows):
            # one explicit conversion: mixed-dtype ops and casting outputs measured slower here
            chunk = logits[start : start + rows].to(dtype)  # (rows, vocab)
            chunk_gold = gold[start : start + rows].unsqueeze(1)
            maximum = chunk.amax(-1, keepdim=True)
            exp = torch.sub(chunk, maximum).exp_()
            total = exp.sum(-1, keepdim=True)
            gold_logit = chunk.gather(1, chunk_gold)
            part = maximum + total.log() - (1.0 - smoothing) * gold_logit
            if smoothing > 0:
                part = part - smoothing * chunk.mean(-1, keepdim=True)
            loss = loss + part.sum()
            correct = correct + (gold_logit >= maximum).sum()
            # softmax - smoothed target
            probs = exp.div_(total)
            if smoothing > 0:
                probs.sub_(smoothing / vocab)
            probs.scatter_add_(1, chunk_gold, probs.new_full(chunk_gold.shape, smoothing - 1.0))
            grad[start : start + rows].copy_(probs)
        ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(correct)
        return loss, correct

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_correct: Tensor) -> tuple[Tensor, None, None]:
        (grad,) = ctx.saved_tensors
        return grad.mul_(grad_loss.to(grad.dtype)), None, None  # backward runs once: in place


# Rows per chunk on a CPU: 32 x 8,000 fp32 values fit a core's L2 cache, so each chunk's
# max/exp/sum/softmax passes run in cache and the logits are read from memory once. Measured on
# (2,200 x 8,000) bf16 logits, forward + backward: 43 ms in chunks of 32, 48 ms of 16, 54 ms of
# 128, against 105-129 ms for the same passes over the whole tensor.
_CPU_ROWS = 32


def smoothed_cross_entropy(logits: Tensor, gold: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """Summed loss over tokens (what F.cross_entropy(..., label_smoothing, reduction="sum") gives)
    and the number of tokens whose gold logit is the largest (argmax accuracy, ties count).

    Half-precision logits are read as they are; every sum runs in fp32."""
    return _SmoothedCrossEntropy.apply(logits, gold, smoothing)


def copy_log_probs(logits: Tensor, gate_logits: Tensor, weights: Tensor, src: Tensor) -> Tensor:
    """Log-probabilities of the pointer-generator mixture (See et al., 2017), in fp32 or wider:
    ``g * softmax(logits) + (1 - g) * (attention summed per source id)``, ``g = sigmoid(gate)``.

    logits (rows, vocab), gate_logits (rows, 1), weights and src (rows, src_len); the source ids
    index the target vocabulary (a joint one). Padding has weight 0, so it adds nothing.
    """
    dtype = torch.promote_types(logits.dtype, torch.float32)  # fp32 (fp64 stays fp64)
    gate = torch.sigmoid(gate_logits.to(dtype))
    mixed = (gate * torch.softmax(logits.to(dtype), dim=-1)).scatter_add(
        1, src, (1.0 - gate) * weights.to(dtype)
    )
    return mixed.clamp_min(1e-12).log()


def smoothed_nll(log_probs: Tensor, gold: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """:func:`smoothed_cross_entropy` for given log-probabilities (rows, vocab): the summed
    ``(1 - s) * -log p(gold) + s * mean(-log p)`` and the argmax-right count (ties count)."""
    gold_log_prob = log_probs.gather(1, gold.unsqueeze(1)).squeeze(1)
    loss = -(1.0 - smoothing) * gold_log_prob.sum()
    if smoothing > 0:
        loss = loss - smoothing * log_probs.mean(dim=-1).sum()
    correct = (gold_log_prob >= log_probs.amax(dim=-1)).sum()
    return loss, correct
