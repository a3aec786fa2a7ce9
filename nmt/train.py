"""The training loop: backpropagation through time over whole sentences, clipping, schedules,
validation with BLEU/chrF, early stopping and resumable checkpoints.

A model directory (:mod:`nmt.model_dir`) holds everything needed to continue or to translate;
:mod:`nmt.resume` owns its training files across runs, :mod:`nmt.stopping` when a run ends.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from nmt.batching import (
    Batch,
    PreparedBatches,
    StreamedBatches,
    StreamingBatches,
    TrainingBatches,
)
from nmt.checkpoint import clear_training_state
from nmt.config import Config, save_config
from nmt.constants import CHECKPOINT_DIR, CONFIG_FILE, TRAIN_LOG_FILE
from nmt.data import prepare_dataset
from nmt.devices import autocast, resolve_precision
from nmt.distributed import (
    Process,
    accumulating,
    barrier,
    from_main,
    init_process,
    shutdown,
    sum_across,
    wrap_model,
)
from nmt.errors import NMTError
from nmt.lock import DirectoryLock
from nmt.model import build_model
from nmt.model_dir import ModelDir, load_weights
from nmt.resume import find_checkpoint, remove_stale_files, repair_after_crash, save_validated_step
from nmt.schedule import build_schedule
from nmt.stopping import StopRules
from nmt.tokenizer import Tokenizer, train_tokenizer
from nmt.training_log import ThroughputWindow, TrainingLog
from nmt.training_state import (
    NonFiniteGuard,
    Progress,
    build_optimizer,
    rng_state,
    seed_everything,
    set_rng_state,
)
from nmt.validation import Validator


def train(
    config: Config,
    resume: bool = False,
    restart: bool = False,
    init_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train the model described by ``config``; returns the last validation's metrics.

    ``resume`` continues from the newest readable checkpoint of ``training.model_dir``;
    ``restart`` deletes its checkpoints and best weights first and trains from step 0 (the
    tokenizer there is kept). ``init_from`` (fine-tuning) starts from another model directory's
    tokenizer and best weights, with a fresh optimizer and schedule. The main process holds the
    directory's lock throughout.
    """
    process, device = init_process(config.training.device)
    lock = DirectoryLock(config.training.model_dir)
    if process.is_main:
        lock.acquire()
    try:
        if restart and process.is_main:
            clear_training_state(config.training.model_dir)
        barrier(process)
        metrics = Trainer(config, process, device, resume, init_from).run()
    finally:
        lock.release()
    # free the trainer and its DDP reducer (reference cycles too) while the process group still
    # exists; a rank that raised skips this and exits, and torchrun stops the others
    gc.collect()
    shutdown(process)
    return metrics


class Trainer:
    def __init__(
        self,
        config: Config,
        process: Process,
        device: torch.device,
        resume: bool,
        init_from: str | Path | None = None,
    ):
        # the resolved precision is what config.yaml records; the caller's config stays as given
        precision = resolve_precision(config.training.precision, device)
        self.config = replace(config, training=replace(config.training, precision=precision))
        self.cfg = self.config.training
        self.process = process
        self.device = device
        self.model_dir = Path(self.cfg.model_dir)
        self._log = TrainingLog(self.model_dir / TRAIN_LOG_FILE, process, self.cfg.tensorboard)
        self.checkpoint_dir = self.model_dir / CHECKPOINT_DIR
        if self.cfg.precision == "fp16" and device.type != "cuda":
            raise NMTError("training.precision fp16 needs CUDA; use bf16 or fp32 on the CPU")
        found = find_checkpoint(self.model_dir, resume, device)  # before anything is written
        if self.cfg.threads > 0:
            torch.set_num_threads(self.cfg.threads)
        if process.is_main:
            remove_stale_files(self.model_dir)
        # the same seed everywhere builds the same model; rank 0's weights are broadcast anyway
        seed_everything(self.cfg.seed)
        self.init_from = ModelDir(init_from) if init_from is not None and found is None else None
        self.tokenizer = self._tokenizer()
        self._prepare_data()
        if self.init_from is not None:  # fine-tuning: the other model's weights, checked to fit
            self.model = load_weights(self.init_from.weights, self.config, self.tokenizer)
            self.model.to(device)
            self._log({"event": "init_from", "weights": str(self.init_from.weights)})
        else:
            self.model = build_model(
                self.config.model, self.tokenizer.src_vocab_size, self.tokenizer.tgt_vocab_size
            ).to(device)
        if process.rank > 0:  # other ranks draw their own dropout masks
            torch.manual_seed(self.cfg.seed + process.rank)
        self.ddp_model = wrap_model(self.model, process, device)
        self.progress = Progress(**found[1]["progress"]) if found else Progress()
        self.stop_rules = StopRules(self.cfg, self.progress, process, device)
        self.optimizer = build_optimizer(self.model, self.cfg)
        self.schedule = build_schedule(self.optimizer, self.cfg, self.stop_rules.spent)
        self.scaler = torch.amp.GradScaler(
            device.type, enabled=self.cfg.precision == "fp16" and device.type == "cuda"
        )
        self.validated_step = -1  # step of the last validation; checkpoints are written at them
        self.guard = NonFiniteGuard(self.cfg.max_nonfinite_updates, self.checkpoint_dir)
        if found is not None:
            self._resume(*found)
        if process.is_main:
            self.model_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.config, self.model_dir / CONFIG_FILE)

    # ---- setup -------------------------------------------------------------------------------

    def _tokenizer(self) -> Tokenizer:
        """Reuse the tokenizer of the model directory, or take the one of the model fine-tuned
        from, or train one there (rank 0) first."""
        here = ModelDir(self.model_dir)
        if self.init_from is not None:
            if self.process.is_main:
                here.adopt_tokenizer(self.init_from)
        elif self.process.is_main and not here.has_tokenizer():
            data = self.config.data
            if not data.train_src:
                raise NMTError("training a tokenizer needs local files in data.train_src/train_tgt")
            train_tokenizer(
                self.config.tokenizer,
                data.train_src,
                data.train_tgt,
                self.model_dir,
                threads=self.cfg.threads,
            )
        barrier(self.process)
        return Tokenizer.load(self.model_dir)

    def _prepare_data(self) -> None:
        # rank 0 tokenizes and fills the Arrow cache first; the other ranks then read the cache
        if not self.process.is_main:
            barrier(self.process)
        rank, replicas = self.process.rank, self.process.world_size
        self.batches: TrainingBatches
        if self.config.data.streaming:
            self.batches = StreamedBatches(
                StreamingBatches(
                    self.config.data,
                    self.tokenizer,
                    self.cfg.max_tokens,
                    self.cfg.seed,
                    num_replicas=replicas,
                    rank=rank,
                )
            )
        else:
            train_set, report = prepare_dataset(self.config.data, self.tokenizer, "train")
            self._log({"event": "data", "split": "train", "report": str(report)})
            self.batches = PreparedBatches(
                train_set, self.cfg.max_tokens, self.cfg.seed, replicas, rank
            )
        self.validator = Validator(self.config, self.tokenizer, self.device)
        if self.process.is_main:
            barrier(self.process)

    def _resume(self, path: Path, state: dict[str, Any]) -> None:
        """Everything but ``progress`` (read first: the stop rules and the schedule see it)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.validated_step = step = self.progress.step
        self.batches.restore(state["sampler"])
        set_rng_state(state["rng"])
        if self.process.rank > 0:  # other ranks draw their own dropout masks
            torch.manual_seed(self.cfg.seed + self.process.rank + step)
        self._log({"event": "resume", "checkpoint": str(path), "step": step})
        if self.process.is_main:
            best_step = int(self.progress.best[0][1]) if self.progress.best else step
            for record in repair_after_crash(self.model_dir, step, best_step):
                self._log(record)

    # ---- the loop ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        bar = tqdm(
            total=cfg.max_steps or None,
            initial=self.progress.step,
            disable=not self.process.is_main,
            dynamic_ncols=True,
            mininterval=1.0 if sys.stderr.isatty() else 60.0,
            unit="step",
        )
        metrics: dict[str, Any] = {}
        validated_at = self.validated_step
        window = ThroughputWindow()
        clock = time.monotonic()
        # a resumed run may be finished already: then no extra step, validation or checkpoint
        stop = self.stop_rules.reason_to_stop(validated=True)
        for batches in () if stop else self._updates():
            update = self._update(batches)
            if update is None:  # skipped: a non-finite loss or gradient
                continue
            loss, tokens, correct = update
            self.progress.step += 1
            self.progress.train_seconds += time.monotonic() - clock
            clock = time.monotonic()
            self.schedule.after_step()  # after the step is counted: decay reads the budget
            window.add(loss, tokens, correct, sum(int(b.src_lengths.sum()) for b in batches))
            bar.update(1)
            step = self.progress.step
            if step % cfg.log_every == 0:
                record = window.flush(self.process, self.device)
                record.update(event="train", step=step, epoch=self.batches.epoch, lr=self._lr())
                bar.set_postfix(
                    loss=f"{record['loss']:.3f}",
                    tok_s=f"{record['tgt_tok_s']:.0f}",
                    lr=f"{record['lr']:.2e}",
                )
                self._log(record)
            validated = step % cfg.valid_every == 0
            if validated:
                metrics, validated_at = self._validate_and_save(), step
            if stop := self.stop_rules.reason_to_stop(validated):
                break
        bar.close()
        if stop:
            self._log(stop)
        if validated_at != self.progress.step:
            metrics = self._validate_and_save()
        self._log.close()
        return metrics

    def _updates(self) -> Iterator[list[Batch]]:
        """Groups of ``update_freq`` batches, one group per optimizer step.

        An epoch's last incomplete group is dropped, as the sampler drops batches that do not
        divide among ranks, so one process with update_freq N and N processes see the same groups.
        """
        while self.cfg.max_epochs == 0 or self.batches.epoch < self.cfg.max_epochs:
            group: list[Batch] = []
            for batch in self.batches.epoch_batches():
                group.append(batch.to(self.device))
                if len(group) == self.cfg.update_freq:
                    yield group
                    group = []
            report = self.batches.epoch_report()
            if report is not None:
                self._log(
                    {
                        "event": "data",
                        "split": "train",
                        "epoch": self.batches.epoch,
                        "report": report,
                    }
                )
            self.batches.next_epoch()

    def _update(self, batches: list[Batch]) -> tuple[float, int, int] | None:
        """One optimizer step over ``batches``; the loss is normalised by the global token count.

        None when the update was skipped because the loss or the gradient is not finite."""
        self.ddp_model.train()
        local_tokens = sum(b.n_tgt_tokens for b in batches)
        global_tokens = sum_across(local_tokens, self.process, self.device)
        scale = self.process.world_size / global_tokens  # DDP averages gradients over ranks
        total_loss, total_correct = 0.0, 0
        for index, batch in enumerate(batches):
            last = index == len(batches) - 1
            with (
                accumulating(self.ddp_model, self.process, last),
                autocast(self.device, self.cfg.precision),
            ):
                loss, _, correct = batch.loss(self.ddp_model, self.cfg.label_smoothing)
                self.scaler.scale(loss * scale).backward()
            total_loss += loss.item()
            total_correct += correct
        self.scaler.unscale_(self.optimizer)
        # clipping to infinity still measures the norm, which the divergence guard needs
        norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm or math.inf)
        # every rank must skip together, or their weights would drift apart
        if self.scaler.is_enabled():
            # fp16: an overflowing gradient is the scaler's business (it skips and lowers its
            # scale); a non-finite loss on any rank is ours
            nonfinite = sum_across(float(not math.isfinite(total_loss)), self.process, self.device)
        else:
            # the gradient is all-reduced, so every rank sees the same norm (no extra collective),
            # and a non-finite loss on any rank makes it non-finite
            nonfinite = not torch.isfinite(norm).item()
        if nonfinite:
            self.optimizer.zero_grad(set_to_none=True)
            self._log(self.guard.skip(self.progress.step, total_loss, float(norm)))
            self.guard.stop_if_diverged(self.progress.step)
            return None
        self.guard.reset()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return total_loss, local_tokens, total_correct

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ---- validation and checkpoints ------------------------------------------------------------

    def _validate_and_save(self) -> dict[str, Any]:
        """Validate (rank 0), let the schedule see the result, then save: a checkpoint holds the
        schedule as it is after this validation, so a resumed run continues exactly."""
        metrics = from_main(self._validate() if self.process.is_main else {}, self.process)
        self.progress.bad_validations = metrics.get("bad_validations", 0)
        if "score" in metrics:
            self.schedule.after_validation(metrics["score"])
        if self.process.is_main:
            self._save(metrics)
        barrier(self.process)
        return metrics

    def _validate(self) -> dict[str, Any]:
        """Validation metrics, with early stopping's count (no dev set: only the step)."""
        metrics: dict[str, Any] = {"event": "valid", "step": self.progress.step}
        if self.validator:
            metrics.update(self.validator(self.model))
            metrics["bad_validations"] = self.progress.count_validation(metrics["score"])
        self._log(metrics)
        return metrics

    def _save(self, metrics: dict[str, Any]) -> None:
        """A checkpoint of this step, and ``model.pt`` if it is the best one."""
        step = self.progress.step
        if "score" in metrics and math.isfinite(metrics["score"]):
            self.progress.rank(metrics["score"], step, self.cfg.keep_best)
        best = self.progress.best
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "progress": vars(self.progress),
            "sampler": self.batches.position(),
            "rng": rng_state(),
            "src_vocab_size": self.tokenizer.src_vocab_size,
            "tgt_vocab_size": self.tokenizer.tgt_vocab_size,
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        }
        # no dev set: the latest weights are the best known
        is_best = best[0][1] == step if best else "score" not in metrics
        # the best keep_best and the one just written stay, whatever keep_last says
        keep = {int(entry[1]) for entry in best[: self.cfg.keep_best]}
        save_validated_step(self.model_dir, state, step, is_best, self.cfg.keep_last, keep)
