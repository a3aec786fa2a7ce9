"""Two CPU processes under torchrun (gloo) train exactly what one process trains on the same
global batches, only rank 0 writes files, and a stopped distributed run resumes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from nmt.checkpoint import list_step_checkpoints, load_checkpoint
from nmt.config import config_to_dict
from tests.test_train import corpus, make_config  # noqa: F401 (corpus is a fixture)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(corpus: dict[str, str], model_dir: Path, **training) -> Path:
    config = make_config(corpus, model_dir, **training)
    values = config_to_dict(config)
    values["model"]["dropout"] = 0.0  # ranks draw different dropout masks
    path = model_dir.parent / f"{model_dir.name}.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def run_nmt_train(config: Path, processes: int, *extra: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    if processes == 1:
        command = [sys.executable, "-m", "nmt", "train", str(config), *extra]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(processes),
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(free_port()),
            "-m",
            "nmt",
            "train",
            str(config),
            *extra,
        ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def last_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(list_step_checkpoints(model_dir / "checkpoints")[-1][1])["model"]


def assert_same_weights(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], atol=1e-5, rtol=0, msg=name)


def test_two_processes_equal_one_process_with_accumulation(corpus, tmp_path: Path) -> None:
    common = dict(max_steps=6, valid_every=3, max_tokens=150, threads=1)
    single = tmp_path / "single"
    run_nmt_train(write_config(corpus, single, update_freq=2, **common), 1)
    pair = tmp_path / "pair"
    run_nmt_train(write_config(corpus, pair, update_freq=1, **common), 2)
    assert_same_weights(last_weights(single), last_weights(pair))
    # rank 0 alone writes: one log line per event, not two
    log = (pair / "train_log.jsonl").read_text().splitlines()
    assert sum('"event": "valid"' in line for line in log) == 2
    assert [step for step, _ in list_step_checkpoints(pair / "checkpoints")] == [3, 6]
    assert not list(pair.glob("**/*.tmp"))

    # stop after 6 steps, resume with two processes up to 9: equals one process straight to 9
    run_nmt_train(
        write_config(corpus, pair, update_freq=1, **{**common, "max_steps": 9}), 2, "--resume"
    )
    straight = tmp_path / "straight"
    run_nmt_train(write_config(corpus, straight, update_freq=2, **{**common, "max_steps": 9}), 1)
    assert_same_weights(last_weights(straight), last_weights(pair))
