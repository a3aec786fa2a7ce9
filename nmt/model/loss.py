"""Label-smoothed cross entropy over the vocabulary, fused to touch the logits as few times as it can.

The (tokens, vocab) logits are the largest activation of a training step. ``F.cross_entropy``
materialises log-probabilities, and its backward writes several vocabulary-sized tensors; here the
forward computes ``exp(logits - max)`` once and keeps it in place of the logits (which are then
freed), and the backward turns that same buffer into the gradient ``softmax - smoothed_target``.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, gold: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
        # logits (tokens, vocab), possibly bf16/fp16 from autocast; sums are taken in fp32
        maximum = logits.amax(dim=-1, keepdim=True).float()  # (tokens, 1)
        exp = torch.sub(logits, maximum).exp_()  # fp32; kept for the backward (softmax * total)
        total = exp.sum(-1, keepdim=True)  # (tokens, 1)
        gold_logit = logits.gather(1, gold.unsqueeze(1)).float()  # (tokens, 1)
        loss = maximum + total.log() - (1.0 - smoothing) * gold_logit
        if smoothing > 0:
            loss = loss - smoothing * logits.mean(-1, keepdim=True, dtype=torch.float32)
        correct = (gold_logit >= maximum).sum()
        ctx.save_for_backward(exp, total, gold)
        ctx.smoothing = smoothing
        ctx.logits_dtype = logits.dtype
        ctx.mark_non_differentiable(correct)
        return loss.sum(), correct

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_correct: Tensor) -> tuple[Tensor, None, None]:
        exp, total, gold = ctx.saved_tensors
        smoothing = ctx.smoothing
        # grad_loss * (softmax - smoothed target), built in the saved buffer (backward runs once)
        grad = exp.mul_(grad_loss / total)
        if smoothing > 0:
            grad.sub_(grad_loss * (smoothing / grad.size(-1)))
        grad.scatter_add_(
            1, gold.unsqueeze(1), (-(1.0 - smoothing) * grad_loss).expand(gold.numel(), 1)
        )
        return grad.to(ctx.logits_dtype), None, None


def smoothed_cross_entropy(logits: Tensor, gold: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """Summed loss over tokens (what F.cross_entropy(..., label_smoothing, reduction="sum") gives)
    and the number of tokens whose gold logit is the largest (argmax accuracy, ties count).

    Half-precision logits are read as they are; every sum runs in fp32."""
    return _SmoothedCrossEntropy.apply(logits, gold, smoothing)
