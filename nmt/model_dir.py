"""A model directory: the one owner of its layout and of what its files hold.

::

    config.yaml         the resolved configuration
    spm.model           the SentencePiece model (spm.src.model + spm.tgt.model when not joint)
    model.pt            the best validation's weights (what translation loads)
    averaged.pt         the mean of several checkpoints' weights (`nmt average`), if made
    checkpoints/        step_N.pt: full training states, for --resume
    train_log.jsonl     one JSON object per log line and per validation
    scores/             `nmt evaluate --json` files per test set (the model card's metrics)
    README.md           the model card (`nmt push` writes it)
    .lock               held by the training run that writes here (nmt.lock)

The trainer, the translator, averaging and the Hub code all go through :class:`ModelDir`, so a
file's name and the checks on its content are written once.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from nmt.checkpoint import (
    average_checkpoints,
    list_step_checkpoints,
    load_checkpoint,
    save_checkpoint,
    select_checkpoints,
)
from nmt.config import Config, load_config
from nmt.constants import (
    AVERAGED_FILE,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    JOINT_SPM_FILE,
    SRC_SPM_FILE,
    TGT_SPM_FILE,
    TRAIN_LOG_FILE,
    WEIGHTS_FILE,
)
from nmt.errors import NMTError
from nmt.model import build_model
from nmt.model.seq2seq import Seq2Seq
from nmt.tokenizer import Tokenizer


class ModelDirError(NMTError):
    """A model directory is missing, incomplete, or its files do not belong together."""


class ModelDir:
    """Paths and loaders of one model directory (it need not exist yet: training creates it)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_file = self.path / CONFIG_FILE
        self.weights = self.path / WEIGHTS_FILE
        self.averaged = self.path / AVERAGED_FILE
        self.checkpoint_dir = self.path / CHECKPOINT_DIR
        self.train_log = self.path / TRAIN_LOG_FILE

    def __repr__(self) -> str:
        return f"ModelDir({str(self.path)!r})"

    @property
    def tokenizer_files(self) -> list[Path]:
        """The SentencePiece file(s) present: the joint model, or the source and target ones."""
        names = (JOINT_SPM_FILE, SRC_SPM_FILE, TGT_SPM_FILE)
        return [self.path / name for name in names if (self.path / name).is_file()]

    def has_tokenizer(self) -> bool:
        return bool(self.tokenizer_files)

    def check_exists(self) -> None:
        if not self.path.is_dir():
            raise ModelDirError(
                f"{self.path}: model directory not found (it holds {CONFIG_FILE}, {WEIGHTS_FILE} "
                "and the SentencePiece model that `nmt train` wrote)"
            )

    def load_config(self) -> Config:
        self.check_exists()
        return load_config(self.config_file)

    def load_tokenizer(self) -> Tokenizer:
        return Tokenizer.load(self.path)

    def adopt_tokenizer(self, source: ModelDir) -> None:
        """Fine-tuning keeps the vocabulary the weights were trained with: ``source``'s
        SentencePiece model(s) are copied here if this directory has none, else they must be
        the same files."""
        source.check_exists()
        if not source.has_tokenizer():
            raise ModelDirError(f"{source.path}: holds no SentencePiece model to fine-tune with")
        if not self.has_tokenizer():
            self.path.mkdir(parents=True, exist_ok=True)
            for path in source.tokenizer_files:
                shutil.copy2(path, self.path / path.name)
            return
        mine = {path.name: path.read_bytes() for path in self.tokenizer_files}
        theirs = {path.name: path.read_bytes() for path in source.tokenizer_files}
        if mine != theirs:
            raise ModelDirError(
                f"{self.path} holds another SentencePiece vocabulary than {source.path}; "
                "fine-tuning must keep the vocabulary the weights were trained with: use an "
                "empty training.model_dir"
            )

    def step_checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of every step checkpoint, oldest first."""
        return list_step_checkpoints(self.checkpoint_dir)

    def average(
        self,
        last: int | None = None,
        best: int | None = None,
        output: str | Path | None = None,
    ) -> tuple[Path, dict[str, Any]]:
        """Average the ``last`` newest or the ``best`` best-scoring step checkpoints into
        ``output`` (default ``averaged.pt``), written atomically in ``model.pt``'s layout, so
        that ``load_model(weights=...)`` and ``nmt translate --checkpoint`` take it. Returns the
        file and what it holds."""
        self.check_exists()
        paths = select_checkpoints(self.checkpoint_dir, last=last, best=best)
        averaged = average_checkpoints(paths)
        path = Path(output) if output is not None else self.averaged
        save_checkpoint(averaged, path)
        return path, averaged

    def load_model(
        self,
        config: Config | None = None,
        tokenizer: Tokenizer | None = None,
        weights: str | Path | None = None,
    ) -> Seq2Seq:
        """The model of ``config`` (default: this directory's) with ``weights`` loaded (default:
        ``model.pt``; a step checkpoint or ``averaged.pt`` also do), checked to fit it."""
        config = config if config is not None else self.load_config()
        tokenizer = tokenizer if tokenizer is not None else self.load_tokenizer()
        path = Path(weights) if weights is not None else self.weights
        return load_weights(path, config, tokenizer)


def load_weights(path: Path, config: Config, tokenizer: Tokenizer) -> Seq2Seq:
    """Build ``config``'s model for ``tokenizer``'s vocabularies and load ``path`` into it; a
    ModelDirError names the mismatch (vocabulary, or the first parameter that does not fit)."""
    state = load_checkpoint(path)
    sizes = (state.get("src_vocab_size"), state.get("tgt_vocab_size"))
    expected = (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    if sizes != expected:
        raise ModelDirError(
            f"{path}: the weights are for vocabularies of {sizes[0]} (source) and {sizes[1]} "
            f"(target) pieces, but the SentencePiece model in use has {expected[0]} and "
            f"{expected[1]}; the weights and the tokenizer do not belong together"
        )
    model = build_model(config.model, *expected)
    mismatch = _first_mismatch(model.state_dict(), state["model"])
    if mismatch:
        raise ModelDirError(
            f"{path}: the weights do not fit the model that the config describes ({mismatch}); "
            "make the config's model section match the one the weights were trained with"
        )
    model.load_state_dict(state["model"])
    return model


def _first_mismatch(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> str:
    for name in expected.keys() - found.keys():
        return f"{name} is missing from the weights"
    for name in found.keys() - expected.keys():
        return f"the weights hold {name}, which the model has not"
    for name, tensor in expected.items():
        if tensor.shape != found[name].shape:
            return (
                f"{name} is {tuple(found[name].shape)} in the weights, {tuple(tensor.shape)} here"
            )
    return ""
