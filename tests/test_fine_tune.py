"""Fine-tuning (`nmt train --init-from DIR`): the other model's weights and vocabulary, a fresh
optimizer and schedule, and clear refusals when the two do not fit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from nmt.config import TokenizerConfig
from nmt.distributed import Process
from nmt.errors import NMTError
from nmt.model_dir import ModelDir, ModelDirError
from nmt.tokenizer import train_tokenizer
from nmt.train import Trainer, train
from tests.test_train import corpus, make_config, write_corpus  # noqa: F401  (corpus: fixture)


@pytest.fixture(scope="module")
def source_model(corpus, tmp_path_factory) -> Path:  # noqa: F811
    model_dir = tmp_path_factory.mktemp("source") / "model"
    train(make_config(corpus, model_dir, max_steps=8))
    return model_dir


@pytest.fixture(scope="module")
def new_corpus(tmp_path_factory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("news")
    src, tgt = write_corpus(directory, 200, 7, "train")
    return {"train_src": str(src), "train_tgt": str(tgt), "dev_src": str(src), "dev_tgt": str(tgt)}


def test_fine_tuning_starts_from_the_source_weights_with_a_fresh_optimizer(
    source_model: Path, new_corpus, tmp_path: Path
) -> None:
    config = make_config(new_corpus, tmp_path / "tuned", max_steps=4, lr=5e-4)
    trainer = Trainer(config, Process(), torch.device("cpu"), resume=False, init_from=source_model)
    assert trainer.progress.step == 0 and trainer.optimizer.state_dict()["state"] == {}
    assert [p.name for p in ModelDir(tmp_path / "tuned").tokenizer_files] == ["spm.model"]
    assert (tmp_path / "tuned" / "spm.model").read_bytes() == (
        source_model / "spm.model"
    ).read_bytes()

    (batch,) = next(trainer._updates())
    source = ModelDir(source_model).load_model().eval()
    with torch.no_grad():
        expected, _, _ = batch.loss(source)
        first, _, _ = batch.loss(trainer.model.eval())
    assert first.item() == expected.item()
    trainer.run()
    tuned = ModelDir(tmp_path / "tuned").load_model()
    changed = [
        n for n, t in tuned.state_dict().items() if not torch.equal(t, source.state_dict()[n])
    ]
    assert changed  # it trained on from there


def test_fine_tuning_refuses_another_vocabulary(
    source_model: Path,
    corpus,
    tmp_path: Path,  # noqa: F811
) -> None:
    other = tmp_path / "other"
    train_tokenizer(
        TokenizerConfig(vocab_size=290), [corpus["train_src"]], [corpus["train_tgt"]], other
    )
    with pytest.raises(NMTError, match="another SentencePiece vocabulary"):
        train(make_config(corpus, other, max_steps=2), init_from=source_model)
    assert not (other / "model.pt").exists()


def test_fine_tuning_refuses_another_architecture(
    source_model: Path, new_corpus, tmp_path: Path
) -> None:
    config = make_config(new_corpus, tmp_path / "wider", max_steps=2)
    config = replace(config, model=replace(config.model, decoder_hidden=48))
    with pytest.raises(ModelDirError, match=r"is \(64, 64\) in the weights, \(48, 64\) here"):
        train(config, init_from=source_model)
