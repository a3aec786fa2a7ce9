"""Training never loses a model and never trains on garbage: crashes between writes, failed
resumes, non-finite updates, a second run in the same directory, damaged files."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import nmt.resume
from nmt.batching import Batch
from nmt.checkpoint import (
    CheckpointError,
    list_step_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from nmt.lock import DirectoryLock, DirectoryLockedError
from nmt.train import train
from nmt.training_state import TrainingDiverged
from tests.test_train import corpus, make_config  # noqa: F401  (corpus is a fixture)


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after the raise point runs, no handler catches it."""


def events(model_dir: Path, kind: str) -> list[dict]:
    log = [json.loads(line) for line in open(model_dir / "train_log.jsonl", encoding="utf-8")]
    return [record for record in log if record["event"] == kind]


def newest_state(model_dir: Path) -> dict:
    return load_checkpoint(list_step_checkpoints(model_dir / "checkpoints")[-1][1])


def assert_same_state(expected: dict, actual: dict) -> None:
    """Weights, optimizer and scheduler state and counters all equal, bit for bit."""
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, actual["model"][name]), name
    for key in ("optimizer", "scheduler", "progress", "sampler"):
        if key == "progress":  # wall-clock seconds differ between any two runs
            expected[key].pop("train_seconds"), actual[key].pop("train_seconds")
        assert _flatten(expected[key]) == _flatten(actual[key]), key


def _flatten(value: object) -> object:
    """Nested state as comparable plain values (tensors become lists)."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _flatten(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_flatten(item) for item in value]
    return value


def test_crash_between_step_checkpoint_and_best_weights_is_repaired_on_resume(
    corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "model"
    real_save = nmt.resume.save_checkpoint

    def killed_before_best_weights(state: dict, path: Path) -> None:
        if Path(path).name == "model.pt" and state["step"] == 8:
            raise Killed
        real_save(state, path)

    monkeypatch.setattr(nmt.resume, "save_checkpoint", killed_before_best_weights)
    with pytest.raises(Killed):
        train(make_config(corpus, model_dir, max_steps=8))
    monkeypatch.undo()
    best_step = int(newest_state(model_dir)["progress"]["best"][0][1])
    assert best_step == 8, "the toy run must improve at step 8 for this test to bite"
    assert load_checkpoint(model_dir / "model.pt")["step"] == 4  # the crash left it stale

    train(make_config(corpus, model_dir, max_steps=8), resume=True)  # finished: no new step
    weights = load_checkpoint(model_dir / "model.pt")
    assert weights["step"] == 8
    for name, tensor in newest_state(model_dir)["model"].items():
        assert torch.equal(tensor, weights["model"][name]), name
    assert events(model_dir, "repaired")[-1]["step"] == 8


def test_plateau_schedule_resumes_bitwise_after_a_validation(corpus, tmp_path: Path) -> None:
    """The checkpoint of a validation holds the schedule as it is after seeing that validation."""
    options = dict(schedule="plateau", plateau_patience=0, plateau_factor=0.5, lr=3e-2)
    train(make_config(corpus, tmp_path / "straight", max_steps=16, **options))
    train(make_config(corpus, tmp_path / "stopped", max_steps=8, **options))
    train(make_config(corpus, tmp_path / "stopped", max_steps=16, **options), resume=True)
    straight, resumed = newest_state(tmp_path / "straight"), newest_state(tmp_path / "stopped")
    assert straight["progress"]["step"] == resumed["progress"]["step"] == 16
    assert_same_state(straight, resumed)


def test_resume_without_a_readable_checkpoint_changes_nothing(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=8))
    for _, path in list_step_checkpoints(model_dir / "checkpoints"):
        path.write_bytes(b"not a checkpoint")
    before = {path: path.read_bytes() for path in model_dir.rglob("*") if path.is_file()}

    with pytest.raises(CheckpointError, match="no readable checkpoint") as error:
        train(make_config(corpus, model_dir, max_steps=12), resume=True)
    assert "step_00000004.pt" in str(error.value) and "--restart" in str(error.value)
    after = {path: path.read_bytes() for path in model_dir.rglob("*") if path.is_file()}
    assert after == before

    train(make_config(corpus, model_dir, max_steps=4), restart=True)
    assert [step for step, _ in list_step_checkpoints(model_dir / "checkpoints")] == [4]
    assert load_checkpoint(model_dir / "model.pt")["step"] == 4


def test_cli_resume_refuses_unreadable_checkpoints_and_restart_starts_over(
    corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nmt.cli import main
    from nmt.config import save_config

    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=4))
    save_config(make_config(corpus, model_dir, max_steps=4), tmp_path / "conf.yaml")
    newest = list_step_checkpoints(model_dir / "checkpoints")[-1][1]
    newest.write_bytes(b"")
    assert main(["train", str(tmp_path / "conf.yaml"), "--resume"]) == 2
    assert "no readable checkpoint" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "conf.yaml"), "--restart"]) == 0
    assert load_checkpoint(newest)["progress"]["step"] == 4


def test_unreadable_newer_checkpoints_are_set_aside_so_pruning_keeps_the_good_one(
    corpus, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=8))
    newest = model_dir / "checkpoints" / "step_00000008.pt"
    newest.write_bytes(newest.read_bytes()[:100])
    train(make_config(corpus, model_dir, max_steps=6, valid_every=2, keep_last=1), resume=True)
    kept = list_step_checkpoints(model_dir / "checkpoints")
    assert kept[-1][0] == 6
    assert load_checkpoint(kept[-1][1])["progress"]["step"] == 6
    assert (model_dir / "checkpoints" / "step_00000008.pt.unreadable").is_file()


def test_non_finite_loss_skips_the_update_and_training_goes_on(
    corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "model"
    real_loss = Batch.loss
    calls = 0

    def nan_on_third_batch(*args):
        nonlocal calls
        calls += 1
        loss, tokens, correct = real_loss(*args)
        return (loss * math.nan if calls == 3 else loss), tokens, correct

    monkeypatch.setattr(Batch, "loss", nan_on_third_batch)
    train(make_config(corpus, model_dir, max_steps=8))
    skips = events(model_dir, "skip")
    assert [(skip["step"], skip["in_a_row"]) for skip in skips] == [(2, 1)]
    assert newest_state(model_dir)["progress"]["step"] == 8
    for tensor in load_checkpoint(model_dir / "model.pt")["model"].values():
        assert torch.isfinite(tensor).all()


def test_a_huge_learning_rate_stops_training_without_saving_nan_weights(
    corpus, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    with pytest.raises(TrainingDiverged, match="5 updates in a row"):
        train(make_config(corpus, model_dir, max_steps=40, lr=1e38))
    assert [skip["in_a_row"] for skip in events(model_dir, "skip")] == [1, 2, 3, 4, 5]
    for path in model_dir.glob("**/*.pt"):
        for tensor in load_checkpoint(path)["model"].values():
            assert torch.isfinite(tensor).all(), path


def test_divergence_keeps_the_last_good_state_as_it_was(
    corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=4))
    before = {path: path.read_bytes() for path in model_dir.glob("**/*.pt")}
    real_loss = Batch.loss

    def infinite_loss(*args):
        loss, tokens, correct = real_loss(*args)
        return loss * math.inf, tokens, correct

    monkeypatch.setattr(Batch, "loss", infinite_loss)
    with pytest.raises(TrainingDiverged, match="after step 4") as error:
        train(make_config(corpus, model_dir, max_steps=40), resume=True)
    assert "step_00000004.pt" in str(error.value)
    assert {path: path.read_bytes() for path in model_dir.glob("**/*.pt")} == before


def test_a_second_run_in_a_locked_directory_is_refused(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from nmt.lock import DirectoryLock; "
            "DirectoryLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(60)",
            str(model_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DirectoryLockedError, match=f"pid {holder.pid}"):
            train(make_config(corpus, model_dir, max_steps=4))
        assert not (model_dir / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    # the killed holder's lock file stays behind, stale: the next run takes it over
    assert (model_dir / ".lock").is_file()
    train(make_config(corpus, model_dir, max_steps=4))
    assert list_step_checkpoints(model_dir / "checkpoints")[-1][0] == 4


def test_lock_is_released_when_its_holder_lets_go(tmp_path: Path) -> None:
    with DirectoryLock(tmp_path):
        with pytest.raises(DirectoryLockedError):
            DirectoryLock(tmp_path).acquire()
    with DirectoryLock(tmp_path):
        pass


def test_stale_temporary_files_are_removed_when_training_starts(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=4))
    stale = [
        model_dir / "checkpoints" / ".step_00000008.pt.x1y2z3.tmp",
        model_dir / ".model.pt.a1b2c3.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    train(make_config(corpus, model_dir, max_steps=8), resume=True)
    assert not any(path.exists() for path in stale)


def test_saved_files_respect_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        save_checkpoint({"model": {"w": torch.ones(2)}}, tmp_path / "model.pt")
        assert (tmp_path / "model.pt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        save_checkpoint({"model": {"w": torch.ones(2)}}, tmp_path / "private.pt")
        assert (tmp_path / "private.pt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


def test_a_full_disk_while_saving_names_the_file_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nmt.checkpoint

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nmt.checkpoint.torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left on device") as error:
        save_checkpoint({"model": {}}, tmp_path / "step_00000004.pt")
    assert error.value.filename == str(tmp_path / "step_00000004.pt")
    assert list(tmp_path.iterdir()) == []


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch ran-code",))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty (0 bytes)"),
        (os.urandom(4096), "not a complete archive"),
        ("pickle", "could run code"),
    ],
    ids=["zero-bytes", "random-bytes", "malicious-pickle"],
)
def test_damaged_checkpoints_get_a_reason_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: object, reason: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "step_00000004.pt"
    if content == "pickle":
        torch.save({"model": _RunsCode()}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert reason in str(error.value)
    assert "weights_only" not in str(error.value)
    assert not (tmp_path / "ran-code").exists()


def test_tokenizer_training_uses_the_configured_threads(
    corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentencepiece

    seen: list[int] = []
    real_train = sentencepiece.SentencePieceTrainer.train

    def recording(**options):
        seen.append(options["num_threads"])
        return real_train(**options)

    monkeypatch.setattr(sentencepiece.SentencePieceTrainer, "train", recording)
    train(make_config(corpus, tmp_path / "model", max_steps=1, threads=1))
    assert seen == [1]


# ---- kills of a real process, at the moments that matter -------------------------------------

_KILLER = """
import os, signal, sys
import nmt.checkpoint, nmt.resume, nmt.train
from nmt.config import load_config

config_path, where, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = 0

def maybe_die(name):
    global seen
    if name == where:
        seen += 1
        if seen == count:
            os.kill(os.getpid(), signal.SIGKILL)

real_save, real_replace = nmt.resume.save_checkpoint, nmt.checkpoint.os.replace
real_validate = nmt.train.Trainer._validate

def save(state, path):
    maybe_die("before_" + os.path.basename(str(path)).split("_")[0])
    real_save(state, path)

class Os:
    def __getattr__(self, name):
        return getattr(os, name)
    def replace(self, source, target):
        maybe_die("mid_write")
        real_replace(source, target)

def validate(self):
    maybe_die("validation")
    return real_validate(self)

nmt.resume.save_checkpoint = save
nmt.checkpoint.os = Os()
nmt.train.Trainer._validate = validate
resume = os.path.isdir(os.path.join(os.path.dirname(config_path), "model", "checkpoints"))
nmt.train.train(load_config(config_path), resume=resume)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_at",
    [("validation", 2), ("before_step", 2), ("mid_write", 3), ("before_model.pt", 2)],
    ids=lambda kill: f"{kill[0]}-{kill[1]}",
)
def test_sigkill_at_validation_or_save_then_resume_equals_an_uninterrupted_run(
    corpus, tmp_path: Path, kill_at: tuple[str, int]
) -> None:
    """A real process killed (SIGKILL) while validating, before a checkpoint, between the
    temporary file and its rename, or between the step checkpoint and model.pt; resumed, it
    ends with the same weights, optimizer, schedule, counters and model.pt as one that never
    stopped."""
    options = dict(max_steps=16, schedule="plateau", plateau_patience=0, lr=3e-2)
    straight = tmp_path / "straight" / "model"
    train(make_config(corpus, straight, **options))

    def run(where: str, count: int) -> int:
        config = make_config(corpus, tmp_path / "killed" / "model", **options)
        config_path = tmp_path / "killed" / "config.yaml"
        from nmt.config import save_config

        save_config(config, config_path)
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        return subprocess.run(
            [sys.executable, "-c", _KILLER, str(config_path), where, str(count)],
            env=env,
            capture_output=True,
            timeout=300,
        ).returncode

    (tmp_path / "killed").mkdir()
    assert run(*kill_at) == -9
    time.sleep(0.1)
    assert run("nowhere", 0) == 0
    killed = tmp_path / "killed" / "model"
    assert_same_state(newest_state(straight), newest_state(killed))
    assert (
        load_checkpoint(killed / "model.pt")["step"]
        == load_checkpoint(straight / "model.pt")["step"]
    )
    assert not list((killed / "checkpoints").glob(".*.tmp"))
