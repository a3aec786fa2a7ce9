"""Shared fixtures: a tiny but complete model directory, as `nmt train` would leave it."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
import torch

from nmt.checkpoint import save_checkpoint
from nmt.config import Config, config_from_dict, load_config, save_config
from nmt.model import build_model
from nmt.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer, train_tokenizer

DATA_DIR = Path(os.environ.get("NMT_DATA_DIR", "/work/shared/data/en-es"))
TINY_MAX_LEN = 24  # data.max_len of the tiny model: source lines longer than this get split


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.yaml + spm.model + model.pt of a "tiny" GRU model, in a few seconds.

    SentencePiece is trained on 300 Tatoeba lines per language; the model gets 60 Adam steps of
    copying English, enough for outputs that differ between inputs. The model knows no
    Spanish: tests pin the plumbing, not translation quality.
    """
    src_file, tgt_file = DATA_DIR / "tatoeba" / "dev.en", DATA_DIR / "tatoeba" / "dev.es"
    if not (src_file.is_file() and tgt_file.is_file()):
        pytest.skip(f"{src_file} not found (set NMT_DATA_DIR to the shared en-es data)")
    work = tmp_path_factory.mktemp("corpus")
    english = src_file.read_text(encoding="utf-8").splitlines()[:300]
    (work / "train.en").write_text("\n".join(english) + "\n", encoding="utf-8")
    spanish = tgt_file.read_text(encoding="utf-8").splitlines()[:300]
    (work / "train.es").write_text("\n".join(spanish) + "\n", encoding="utf-8")

    model_dir = tmp_path_factory.mktemp("tiny_model")
    config = config_from_dict(
        {
            "data": {"max_len": TINY_MAX_LEN},
            "tokenizer": {"vocab_size": 400, "joint": True},
            "model": {"preset": "tiny", "cell": "gru", "decoder": "fused"},
            "decoding": {"beam_size": 3, "batch_size": 8, "max_len_a": 1.2, "max_len_b": 4},
        },
        source="tiny_model_dir",
    )
    tokenizer = train_tokenizer(
        config.tokenizer, [str(work / "train.en")], [str(work / "train.es")], model_dir
    )
    sentences = [ids[:TINY_MAX_LEN] for ids in tokenizer.encode_src(english) if ids]
    model = train_copying_model(config, tokenizer, sentences, seed=0)
    save_config(config, model_dir / "config.yaml")
    save_weights(model, tokenizer, model_dir / "model.pt")
    return model_dir


@pytest.fixture(scope="session")
def second_tiny_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another model like ``tiny_model_dir``, with its tokenizer, trained from another seed on
    other lines: two models of one vocabulary that disagree, for ensembles."""
    model_dir = tmp_path_factory.mktemp("second_tiny_model")
    for name in ("config.yaml", "spm.model"):
        shutil.copy(tiny_model_dir / name, model_dir / name)
    config = load_config(model_dir / "config.yaml")
    tokenizer = Tokenizer.load(model_dir)
    english = (DATA_DIR / "tatoeba" / "dev.en").read_text(encoding="utf-8").splitlines()[300:600]
    sentences = [ids[:TINY_MAX_LEN] for ids in tokenizer.encode_src(english) if ids]
    model = train_copying_model(config, tokenizer, sentences, seed=1)
    save_weights(model, tokenizer, model_dir / "model.pt")
    return model_dir


def train_copying_model(
    config: Config, tokenizer: Tokenizer, sentences: list[list[int]], seed: int, steps: int = 60
) -> torch.nn.Module:
    """``steps`` Adam steps of copying batches of ``sentences`` (one thread: on a loaded 2-core
    machine two threads are ten times slower for a model this small)."""
    torch.manual_seed(seed)
    model = build_model(config.model, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    rng = random.Random(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            batch = rng.sample(sentences, 32)
            src, lengths = _pad(batch)
            tgt_in, tgt_lengths = _pad([[BOS_ID, *ids] for ids in batch])
            tgt_out, _ = _pad([[*ids, EOS_ID] for ids in batch])
            loss, tokens, _ = model(src, lengths, tgt_in, tgt_out, tgt_lengths)
            optimizer.zero_grad()
            (loss / tokens).backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model


def save_weights(model: torch.nn.Module, tokenizer: Tokenizer, path: Path) -> None:
    save_checkpoint(
        {
            "model": model.state_dict(),
            "src_vocab_size": tokenizer.src_vocab_size,
            "tgt_vocab_size": tokenizer.tgt_vocab_size,
        },
        path,
    )


def _pad(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, longest) ids padded with PAD, and the lengths."""
    lengths = torch.tensor([len(s) for s in sequences])
    padded = torch.full((len(sequences), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.tensor(sequence)
    return padded, lengths


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run only with NMT_SLOW_TESTS=1 (CI sets it when time allows)."""
    if os.environ.get("NMT_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set NMT_SLOW_TESTS=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
