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
        # logits (tokens, vocab); gold (tokens,)
        maximum = logits.amax(dim=-1, keepdim=True)  # (tokens, 1)
        exp = (logits - maximum).exp_()  # kept for the backward: the softmax up to its sum
        total = exp.sum(-1, keepdim=True)  # (tokens, 1)
        gold_logit = logits.gather(1, gold.unsqueeze(1))  # (tokens, 1)
        loss = maximum + total.log() - (1.0 - smoothing) * gold_logit
        if smoothing > 0:
            loss = loss - smoothing * logits.mean(-1, keepdim=True)
        correct = (gold_logit >= maximum).sum()
        ctx.save_for_backward(exp, total, gold)
        ctx.smoothing = smoothing
        ctx.mark_non_differentiable(correct)
        return loss.sum(), correct

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_correct: Tensor) -> tuple[Tensor, None, None]:
        exp, total, gold = ctx.saved_tensors
        smoothing = ctx.smoothing
        grad = exp.div_(total)  # softmax, in the saved buffer: the backward runs once
        if smoothing > 0:
            grad.sub_(smoothing / grad.size(-1))
        grad.scatter_add_(
            1, gold.unsqueeze(1), grad.new_full((gold.numel(), 1), -(1.0 - smoothing))
        )
        return grad.mul_(grad_loss), None, None


def smoothed_cross_entropy(logits: Tensor, gold: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """Summed loss over tokens (what F.cross_entropy(..., label_smoothing, reduction="sum") gives)
    and the number of tokens whose gold logit is the largest (argmax accuracy, ties count)."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # the sums over the vocabulary need fp32
    return _SmoothedCrossEntropy.apply(logits, gold, smoothing)
