"""The trainer: resumes bitwise, survives a corrupt checkpoint, clips gradients, keeps files tidy."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from nmt.checkpoint import CheckpointError, list_step_checkpoints, load_checkpoint
from nmt.config import Config, config_from_dict
from nmt.distributed import Process
from nmt.train import Trainer, train

# one-letter words, so that SentencePiece makes each word one piece
WORDS = dict(zip("abcdefghijkl", "mnopqrstuvwx", strict=True))


def write_corpus(directory: Path, pairs: int, seed: int, name: str) -> tuple[Path, Path]:
    """A toy translation task: word-for-word through a fixed dictionary."""
    rng = random.Random(seed)
    src, tgt = directory / f"{name}.src", directory / f"{name}.tgt"
    lines = [[rng.choice(list(WORDS)) for _ in range(rng.randint(2, 6))] for _ in range(pairs)]
    src.write_text("".join(" ".join(words) + "\n" for words in lines), encoding="utf-8")
    tgt.write_text(
        "".join(" ".join(WORDS[word] for word in words) + "\n" for words in lines), encoding="utf-8"
    )
    return src, tgt


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("corpus")
    train_src, train_tgt = write_corpus(directory, 400, 0, "train")
    dev_src, dev_tgt = write_corpus(directory, 40, 1, "dev")
    return {
        "train_src": str(train_src),
        "train_tgt": str(train_tgt),
        "dev_src": str(dev_src),
        "dev_tgt": str(dev_tgt),
    }


def make_config(corpus: dict[str, str], model_dir: Path, **training) -> Config:
    return config_from_dict(
        {
            "data": {
                "train_src": [corpus["train_src"]],
                "train_tgt": [corpus["train_tgt"]],
                "dev_src": corpus["dev_src"],
                "dev_tgt": corpus["dev_tgt"],
                "cache_dir": str(model_dir.parent / "hf_cache"),
            },
            "tokenizer": {"vocab_size": 300},
            "model": {"preset": "tiny", "dropout": 0.2},
            "training": {
                "model_dir": str(model_dir),
                "max_tokens": 120,
                "valid_every": 4,
                "log_every": 2,
                "valid_metric": "loss",
                "keep_last": 10,
                "threads": 1,
                **training,
            },
        }
    )


def final_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    step, path = list_step_checkpoints(model_dir / "checkpoints")[-1]
    return load_checkpoint(path)["model"]


def resumed_trainer(config: Config) -> Trainer:
    """A trainer resuming in ``config``'s directory, checked to hold the newest checkpoint's state
    (step, data position, weights, optimizer) before it trains: a resume that silently started
    from step 0 would train the same bits as an uninterrupted run and pass a comparison alone."""
    trainer = Trainer(config, Process(), torch.device("cpu"), resume=True)
    checkpoint_dir = Path(config.training.model_dir) / "checkpoints"
    state = load_checkpoint(list_step_checkpoints(checkpoint_dir)[-1][1])
    assert trainer.progress.step == state["progress"]["step"] > 0
    assert trainer.progress.best == state["progress"]["best"]
    assert trainer.batches.position() == state["sampler"]
    for name, tensor in state["model"].items():
        assert torch.equal(trainer.model.state_dict()[name], tensor), name
    optimizer = trainer.optimizer.state_dict()
    assert optimizer["param_groups"] == state["optimizer"]["param_groups"]
    for index, moments in state["optimizer"]["state"].items():
        for key, value in moments.items():
            assert torch.equal(optimizer["state"][index][key], value), (index, key)
    return trainer


def test_resume_continues_bitwise_identically(corpus, tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    train(make_config(corpus, straight, max_steps=8))
    interrupted = tmp_path / "interrupted"
    train(make_config(corpus, interrupted, max_steps=4))
    resumed_trainer(make_config(corpus, interrupted, max_steps=8)).run()
    expected, resumed = final_weights(straight), final_weights(interrupted)
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
    events = [json.loads(line)["event"] for line in open(interrupted / "train_log.jsonl")]
    assert "resume" in events


def test_a_run_stopped_between_validations_resumes_at_its_last_step(corpus, tmp_path: Path) -> None:
    """max_steps off a validation step: the checkpoint written at the end records the data
    position of the last step trained (not of a group fetched after it), so the resumed run
    trains on the batches an uninterrupted run trains on."""
    options = dict(valid_every=4, schedule="constant")
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train(make_config(corpus, straight, max_steps=8, **options))
    train(make_config(corpus, interrupted, max_steps=6, **options))
    resumed_trainer(make_config(corpus, interrupted, max_steps=8, **options)).run()
    expected, resumed = final_weights(straight), final_weights(interrupted)
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name


def test_resuming_a_finished_run_changes_nothing(corpus, tmp_path: Path) -> None:
    """A rerun of a finished recipe stage: no extra step, validation or best-list entry."""
    model_dir = tmp_path / "finished"
    train(make_config(corpus, model_dir, max_steps=6))
    log_lines = (model_dir / "train_log.jsonl").read_text().splitlines()
    checkpoints = list_step_checkpoints(model_dir / "checkpoints")
    before = load_checkpoint(checkpoints[-1][1])
    train(make_config(corpus, model_dir, max_steps=6), resume=True)
    after = load_checkpoint(list_step_checkpoints(model_dir / "checkpoints")[-1][1])
    assert list_step_checkpoints(model_dir / "checkpoints") == checkpoints
    assert after["progress"] == before["progress"]  # same step, same best list
    new_events = [
        json.loads(line)["event"]
        for line in (model_dir / "train_log.jsonl").read_text().splitlines()[len(log_lines) :]
    ]
    assert "valid" not in new_events and "train" not in new_events


def test_resume_spans_an_epoch_boundary(corpus, tmp_path: Path) -> None:
    """Epochs here are a handful of batches, so 30 steps cross several of them."""
    straight, interrupted = tmp_path / "a", tmp_path / "b"
    train(make_config(corpus, straight, max_steps=30, valid_every=6, max_tokens=400))
    train(make_config(corpus, interrupted, max_steps=18, valid_every=6, max_tokens=400))
    trainer = resumed_trainer(
        make_config(corpus, interrupted, max_steps=30, valid_every=6, max_tokens=400)
    )
    assert trainer.batches.position()["epoch"] > 0  # the resume lands in a later epoch
    trainer.run()
    for name, tensor in final_weights(straight).items():
        assert torch.equal(tensor, final_weights(interrupted)[name]), name


def test_truncated_checkpoint_is_detected_and_the_previous_one_used(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=8))
    checkpoints = list_step_checkpoints(model_dir / "checkpoints")
    assert [step for step, _ in checkpoints] == [4, 8]
    newest = checkpoints[-1][1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(newest)
    train(make_config(corpus, model_dir, max_steps=12), resume=True)
    log = [json.loads(line) for line in open(model_dir / "train_log.jsonl")]
    resumed = [record for record in log if record["event"] == "resume"]
    assert resumed[-1]["step"] == 4 and resumed[-1]["checkpoint"].endswith("step_00000004.pt")
    assert list_step_checkpoints(model_dir / "checkpoints")[-1][0] == 12


def test_training_without_resume_refuses_to_overwrite(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=4))
    with pytest.raises(Exception, match="--resume"):
        train(make_config(corpus, model_dir, max_steps=8))


def test_gradient_clipping_bounds_the_norm(corpus, tmp_path: Path) -> None:
    config = make_config(corpus, tmp_path / "model", max_steps=3, clip_norm=0.05)
    trainer = Trainer(config, Process(), torch.device("cpu"), resume=False)
    norms: list[float] = []

    def record_norm(*_: object) -> None:  # a step pre-hook: sees the gradients as clipped
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    trainer.optimizer.register_step_pre_hook(record_norm)
    trainer.run()
    assert len(norms) == 3
    assert all(norm <= 0.05 * (1 + 1e-4) for norm in norms), norms


def test_decay_schedule_anneals_over_the_last_part_of_the_budget(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    config = make_config(
        corpus,
        model_dir,
        max_steps=8,
        max_epochs=0,
        log_every=1,
        lr=1e-3,
        min_lr=1e-4,
        schedule="decay",
        decay_fraction=0.5,
    )
    train(config)
    log = [json.loads(line) for line in open(model_dir / "train_log.jsonl")]
    # the lr logged at a step is the one the next step uses: full for the first half of the
    # budget, then linearly down to min_lr at its end
    lrs = {record["step"]: record["lr"] for record in log if record["event"] == "train"}
    expected = {1: 1e-3, 2: 1e-3, 3: 1e-3, 4: 1e-3, 5: 7.75e-4, 6: 5.5e-4, 7: 3.25e-4, 8: 1e-4}
    assert lrs == pytest.approx(expected)


def test_decay_schedule_resumes_where_it_stopped(corpus, tmp_path: Path) -> None:
    """A crash mid-budget, then a resume: the same weights as an uninterrupted decay run."""
    options = dict(max_steps=8, max_epochs=0, schedule="decay", decay_fraction=0.75)
    train(make_config(corpus, tmp_path / "straight", **options))
    crashed = Trainer(
        make_config(corpus, tmp_path / "crashed", **options), Process(), torch.device("cpu"), False
    )
    update = crashed._update

    def crash_after_four_steps(batches):
        if crashed.progress.step == 5:  # step 4 was validated and saved
            raise KeyboardInterrupt
        return update(batches)

    crashed._update = crash_after_four_steps
    with pytest.raises(KeyboardInterrupt):
        crashed.run()
    resumed_trainer(make_config(corpus, tmp_path / "crashed", **options)).run()
    for name, tensor in final_weights(tmp_path / "straight").items():
        assert torch.equal(tensor, final_weights(tmp_path / "crashed")[name]), name


def test_keeps_last_and_best_checkpoints_and_writes_the_model_dir(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=16, keep_last=1, keep_best=1))
    log = [json.loads(line) for line in open(model_dir / "train_log.jsonl")]
    valid = [record for record in log if record["event"] == "valid"]
    best_step = max(valid, key=lambda record: record["score"])["step"]
    kept = {step for step, _ in list_step_checkpoints(model_dir / "checkpoints")}
    assert kept == {16, best_step}
    assert load_checkpoint(model_dir / "model.pt")["step"] == best_step
    assert (model_dir / "config.yaml").is_file() and (model_dir / "spm.model").is_file()
    train_records = [record for record in log if record["event"] == "train"]
    assert train_records and all(record["tgt_tok_s"] > 0 for record in train_records)


def test_tiny_model_learns_the_toy_task(corpus, tmp_path: Path) -> None:
    """A real learning signal end to end: greedy BLEU on the dev set climbs far above chance."""
    model_dir = tmp_path / "model"
    config = make_config(
        corpus,
        model_dir,
        max_steps=500,
        max_epochs=0,
        valid_every=500,
        valid_metric="bleu",
        lr=3e-3,
        max_tokens=400,
        label_smoothing=0.0,
    )
    # the task is nearly character-level (byte fallback leaves ~25 real pieces): twice "tiny"
    config.model = replace(
        config.model, emb_size=64, encoder_hidden=64, decoder_hidden=128, dropout=0.0
    )
    metrics = train(config)
    assert metrics["bleu"] > 50, metrics


def test_time_budget_stops_training_and_saves(corpus, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=10_000, max_epochs=0, max_minutes=0.002))
    log = [json.loads(line) for line in open(model_dir / "train_log.jsonl")]
    stopped = [record for record in log if record["event"] == "time_limit"]
    assert len(stopped) == 1 and stopped[0]["step"] < 10_000
    last_step, path = list_step_checkpoints(model_dir / "checkpoints")[-1]
    assert last_step == stopped[0]["step"]
    assert load_checkpoint(path)["progress"]["train_seconds"] >= 0.12


def streamed(config: Config) -> Config:
    config.data.streaming = True
    return config


def test_streaming_mode_trains_and_resumes_bitwise(corpus, tmp_path: Path) -> None:
    """data.streaming reads, tokenizes and batches while training; epochs are a few batches
    here, so 12 steps cross epoch boundaries, and the resume lands mid-epoch."""
    straight, interrupted = tmp_path / "a", tmp_path / "b"
    common = dict(valid_every=5, max_tokens=300, max_epochs=0)
    train(streamed(make_config(corpus, straight, max_steps=12, **common)))
    train(streamed(make_config(corpus, interrupted, max_steps=5, **common)))
    trainer = resumed_trainer(streamed(make_config(corpus, interrupted, max_steps=12, **common)))
    assert trainer.batches.position()["global_consumed"] > 0  # mid-epoch
    trainer.run()
    expected, resumed = final_weights(straight), final_weights(interrupted)
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
    log = [json.loads(line) for line in open(straight / "train_log.jsonl")]
    epochs = [r for r in log if r["event"] == "data" and r.get("epoch") is not None]
    assert epochs and "kept 400 of 400 pairs" in epochs[0]["report"]


def test_copy_attention_with_shared_embeddings_trains_saves_and_translates(
    corpus, tmp_path: Path
) -> None:
    from nmt.translator import Translator

    model_dir = tmp_path / "model"
    config = make_config(corpus, model_dir, max_steps=8, max_epochs=0, valid_metric="bleu")
    config = replace(
        config, model=replace(config.model, copy_attention=True, share_embeddings=True)
    )
    train(config)
    state = load_checkpoint(model_dir / "model.pt")["model"]
    assert "copy_gate.weight" in state
    assert torch.equal(state["encoder.embed.weight"], state["decoder.embed.weight"])
    translator = Translator.from_pretrained(model_dir)
    lines = open(corpus["dev_src"], encoding="utf-8").read().splitlines()[:5] + [""]
    assert len(translator.translate(lines, beam_size=3)) == 6
    quantized = Translator.from_pretrained(model_dir, precision="int8")
    assert len(quantized.translate(lines, beam_size=2)) == 6


def test_tensorboard_curves_mirror_the_jsonl_log(corpus, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the optional tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model_dir = tmp_path / "model"
    train(make_config(corpus, model_dir, max_steps=8, tensorboard=True))
    board = EventAccumulator(str(model_dir / "tensorboard"))
    board.Reload()
    log = [json.loads(line) for line in open(model_dir / "train_log.jsonl")]
    train_loss = {r["step"]: r["loss"] for r in log if r["event"] == "train"}
    valid_loss = {r["step"]: r["loss"] for r in log if r["event"] == "valid"}
    assert {e.step: e.value for e in board.Scalars("train/loss")} == pytest.approx(train_loss)
    assert {e.step: e.value for e in board.Scalars("valid/loss")} == pytest.approx(valid_loss)
    assert "train/lr" in board.Tags()["scalars"]
