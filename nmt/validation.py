"""Validation during training: the dev set's loss, and BLEU/chrF of its greedy (or beam)
translations, which pick the checkpoints kept as best."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nmt import evaluation
from nmt.batching import Batch, TokenBatchSampler, collate
from nmt.config import Config
from nmt.data import prepare_dataset
from nmt.devices import autocast
from nmt.tokenizer import Tokenizer
from nmt.translator import Translator


class Validator:
    """The first ``training.valid_max_sentences`` pairs of the dev set, batched once."""

    def __init__(self, config: Config, tokenizer: Tokenizer, device: torch.device):
        self.config, self.tokenizer, self.device = config, tokenizer, device
        self.batches: list[Batch] = []
        self.sources: list[str] = []
        self.references: list[str] = []
        if not (config.data.dev_src and config.data.dev_tgt):
            return
        cfg = config.training
        dev_set, _ = prepare_dataset(config.data, tokenizer, "dev")
        rows = dev_set.select(range(min(len(dev_set), cfg.valid_max_sentences))).with_format(None)[
            :
        ]
        self.sources, self.references = rows["src"], rows["tgt"]
        sampler = TokenBatchSampler(
            rows["src_len"], rows["tgt_len"], cfg.max_tokens, 0, shuffle=False
        )
        self.batches = [
            collate(
                [{"src_ids": rows["src_ids"][i], "tgt_ids": rows["tgt_ids"][i]} for i in indices]
            )
            for indices in sampler
        ]

    def __bool__(self) -> bool:
        return bool(self.batches)

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, Any]:
        """loss (per target token) and ppl; bleu and chrf unless ``valid_metric`` is loss; and
        score, the ``valid_metric`` that picks checkpoints, as higher-is-better (a warning and
        -inf where it is not finite: a diverged model is never the best one)."""
        cfg = self.config.training
        model.eval()
        loss_sum, tokens = 0.0, 0
        for batch in self.batches:
            batch = batch.to(self.device)
            with autocast(self.device, cfg.precision):
                loss, n, _ = batch.loss(model)
            loss_sum += loss.item()
            tokens += n
        metrics: dict[str, Any] = {"loss": loss_sum / tokens}
        metrics["ppl"] = math.exp(min(metrics["loss"], 100.0))
        if cfg.valid_metric != "loss":
            translator = Translator(model, self.tokenizer, self.config, device=self.device)
            hypotheses = translator.translate(self.sources, beam_size=cfg.valid_beam_size)
            for score in evaluation.compute_scores(hypotheses, [self.references], ("bleu", "chrf")):
                metrics[score.name] = score.score
        model.train()
        score = -metrics["loss"] if cfg.valid_metric == "loss" else metrics[cfg.valid_metric]
        if not math.isfinite(score):
            metrics["warning"] = f"non-finite validation {cfg.valid_metric}"
            score = -math.inf
        metrics["score"] = score
        return metrics
