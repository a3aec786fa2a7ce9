"""What a training run reports: ``train_log.jsonl`` (the source of truth, one JSON object per
line), a line on the console for the events a person watches for, and optionally TensorBoard
curves (``training.tensorboard: true``; the optional ``tensorboard`` extra)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from nmt.distributed import Process, sum_across
from nmt.errors import NMTError

# events worth a console line; "train" records go to the progress bar instead
ECHOED = ("valid", "data", "resume", "early_stop", "time_limit", "skip", "repaired", "init_from")
# train/valid record fields drawn as TensorBoard scalars, under these tags
SCALARS = {
    "train": ("loss", "accuracy", "lr", "tgt_tok_s", "src_tgt_tok_s"),
    "valid": ("loss", "ppl", "bleu", "chrf"),
}


class TrainingLog:
    """Appends records to ``path`` (rank 0 only; the others log nothing)."""

    def __init__(self, path: Path, process: Process, tensorboard: bool = False):
        self.path = path
        self.enabled = process.is_main
        self.board = (
            _summary_writer(path.parent / "tensorboard") if tensorboard and self.enabled else None
        )

    def __call__(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        if record.get("event") in ECHOED:
            tqdm.write(json.dumps(record))
        if self.board is not None and record.get("event") in SCALARS and "step" in record:
            for name in SCALARS[record["event"]]:
                if isinstance(record.get(name), (int, float)):
                    self.board.add_scalar(f"{record['event']}/{name}", record[name], record["step"])
            self.board.flush()

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def _summary_writer(directory: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise NMTError(
            "training.tensorboard needs the tensorboard package: pip install 'nmt[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(directory))


class ThroughputWindow:
    """Loss and throughput accumulated between two log lines (summed over ranks when flushed)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.loss = self.tokens = self.correct = self.src_tokens = 0.0

    def add(self, loss: float, tokens: int, correct: int, src_tokens: float) -> None:
        self.loss += loss
        self.tokens += tokens
        self.correct += correct
        self.src_tokens += src_tokens

    def flush(self, process: Process, device: torch.device) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.start
        loss, tokens, correct, src = (
            sum_across(value, process, device)
            for value in (self.loss, self.tokens, self.correct, self.src_tokens)
        )
        record = {
            "loss": loss / max(tokens, 1),
            "accuracy": correct / max(tokens, 1),
            "tgt_tok_s": tokens / elapsed,
            "src_tgt_tok_s": (tokens + src) / elapsed,
        }
        self.__init__()
        return record
