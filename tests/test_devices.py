"""Device selection and mixed precision: bf16 autocast on the CPU here, CUDA paths where a GPU is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nmt.devices import resolve_device
from nmt.errors import NMTError
from nmt.train import train
from tests.test_train import corpus, make_config  # noqa: F401 (corpus is a fixture)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def train_losses(model_dir: Path) -> list[float]:
    log = [json.loads(line) for line in open(model_dir / "train_log.jsonl")]
    return [record["loss"] for record in log if record["event"] == "train"]


def test_auto_device_is_the_cpu_without_cuda() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(NMTError, match="no CUDA device"):
        resolve_device("cuda")


def test_bf16_autocast_trains_on_the_cpu(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "bf16"
    metrics = train(
        make_config(
            corpus,
            model_dir,
            max_steps=40,
            valid_every=40,
            log_every=10,
            precision="bf16",
            lr=5e-3,
            max_epochs=0,
        )
    )
    losses = train_losses(model_dir)
    assert losses[-1] < losses[0] - 0.5, losses
    assert metrics["loss"] < 10
    weights = torch.load(model_dir / "model.pt", weights_only=True)["model"]
    assert all(tensor.dtype == torch.float32 for tensor in weights.values())  # master weights


def test_fp16_on_the_cpu_is_refused(corpus, tmp_path: Path) -> None:
    with pytest.raises(NMTError, match="fp16 needs CUDA"):
        train(make_config(corpus, tmp_path / "fp16", max_steps=2, precision="fp16", device="cpu"))


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_cuda(corpus, tmp_path: Path, precision: str) -> None:
    model_dir = tmp_path / precision
    train(
        make_config(
            corpus,
            model_dir,
            max_steps=40,
            valid_every=40,
            log_every=10,
            precision=precision,
            device="cuda",
            lr=5e-3,
            max_epochs=0,
        )
    )
    losses = train_losses(model_dir)
    assert losses[-1] < losses[0] - 0.5, losses


@needs_cuda
def test_cuda_translation_equals_cpu_translation(tiny_model_dir) -> None:
    from nmt import Translator

    lines = ["Hello.", "How are you today?", ""]
    cpu = Translator.from_pretrained(tiny_model_dir).translate(lines, beam_size=3)
    gpu = Translator.from_pretrained(tiny_model_dir, device="cuda").translate(lines, beam_size=3)
    assert gpu == cpu


def test_auto_precision_follows_the_hardware() -> None:
    from nmt.devices import _cpu_flags, resolve_precision

    native = bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
