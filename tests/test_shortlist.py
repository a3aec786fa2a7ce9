"""Lexical shortlists (nmt.shortlist, `nmt shortlist`, --shortlist): a shortlist holding the whole
vocabulary changes nothing, bit for bit; a real one restricts the output to its pieces."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nmt.cli import main
from nmt.shortlist import Shortlist, build_shortlist, cooccurrence_counts
from nmt.translator import Translator
from tests.conftest import DATA_DIR


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("shortlist_corpus")
    for lang in ("en", "es"):
        lines = (DATA_DIR / "tatoeba" / f"dev.{lang}").read_text(encoding="utf-8").splitlines()
        (work / f"train.{lang}").write_text("\n".join(lines[:600]) + "\n", encoding="utf-8")
    return work / "train.en", work / "train.es"


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return (DATA_DIR / "tatoeba" / "dev.en").read_text(encoding="utf-8").splitlines()[800:840]


def model_with_shortlist(
    tiny_model_dir: Path, target: Path, corpus: tuple[Path, Path], *options: str
) -> Path:
    shutil.copytree(tiny_model_dir, target)
    argv = ["shortlist", "-m", str(target), "--src", str(corpus[0]), "--tgt", str(corpus[1])]
    assert main([*argv, *options]) == 0
    return target


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_shortlist_of_the_whole_vocabulary_changes_nothing(
    tiny_model_dir: Path,
    corpus: tuple[Path, Path],
    lines: list[str],
    tmp_path: Path,
    precision: str,
) -> None:
    vocab = Translator.from_pretrained(tiny_model_dir).tokenizer.tgt_vocab_size
    model_dir = model_with_shortlist(
        tiny_model_dir, tmp_path / "model", corpus, "--frequent", str(vocab)
    )
    translator = Translator.from_pretrained(model_dir, precision=precision)
    assert translator.shortlist is not None and len(translator.shortlist.frequent) == vocab - 4
    for beam in (1, 3):
        plain = translator.translate_hypotheses(lines, beam_size=beam, n_best=1)
        short = translator.translate_hypotheses(lines, beam_size=beam, n_best=1, shortlist=True)
        assert [(t.text, t.score, t.tokens) for (t,) in short] == [
            (t.text, t.score, t.tokens) for (t,) in plain
        ]
        assert all(a.attention.equal(b.attention) for (a,), (b,) in zip(short, plain, strict=True))


@pytest.mark.parametrize("method", ["cooccurrence", "alignment"])
def test_a_shortlist_keeps_the_output_within_the_batchs_pieces(
    tiny_model_dir: Path,
    corpus: tuple[Path, Path],
    lines: list[str],
    tmp_path: Path,
    method: str,
) -> None:
    model_dir = model_with_shortlist(
        tiny_model_dir,
        tmp_path / "model",
        corpus,
        "--method",
        method,
        "--per-source",
        "8",
        "--frequent",
        "20",
    )
    translator = Translator.from_pretrained(model_dir)
    shortlist = translator.shortlist
    assert shortlist is not None and shortlist.method == method
    ids = translator.tokenizer.encode_src(lines)
    found = translator.translate_hypotheses(lines, beam_size=3, n_best=3, shortlist=True)
    assert len(found) == len(lines)
    plain = translator.translate(lines, beam_size=3)
    # a batch may use every piece on the lists of its lines: all lines' lists bound them all
    longest = max(len(i) for i in ids)
    everything = torch.tensor([i + [0] * (longest - len(i)) for i in ids])
    allowed = set(shortlist.ids_for(everything).tolist())
    assert len(allowed) < translator.tokenizer.tgt_vocab_size // 2  # a real restriction
    outside = 0
    for n_best, free in zip(found, plain, strict=True):
        for t in n_best:
            assert set(t.tokens) <= allowed
        free_ids = translator.tokenizer.encode_tgt([free])[0]
        outside += not set(free_ids) <= allowed
    assert outside > 0  # the restriction changed some outputs on this barely trained model
    # the command line's --shortlist is the same search
    source, target = tmp_path / "in.en", tmp_path / "out.es"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["translate", "-m", str(model_dir), "-i", str(source), "-o", str(target)]
    assert main([*argv, "--shortlist", "--beam-size", "3"]) == 0
    assert target.read_text(encoding="utf-8").splitlines() == [n[0].text for n in found]


def test_cooccurrence_ranks_a_pieces_translations_above_chance() -> None:
    """Source piece 5 always comes with target 9, piece 6 with 10; 11 comes with everything and
    is frequent, so it sits in the frequent list instead of taking a slot."""
    pairs = [([5, 7], [9, 11]), ([5, 8], [9, 11, 12]), ([6, 7], [10, 11]), ([6], [10, 11, 12])]
    counts, frequency = cooccurrence_counts(pairs, 10, 14)
    assert counts[5, 9] == 2 and counts[5, 10] == 0 and counts[7, 11] == 2
    shortlist = build_shortlist(counts, frequency, per_source=2, frequent=1, method="cooccurrence")
    assert shortlist.frequent.tolist() == [11]
    assert shortlist.candidates[5].tolist() == [9, 12]
    assert shortlist.candidates[6].tolist() == [10, 12]
    assert shortlist.candidates[9].tolist() == [-1, -1]  # never seen
    ids = shortlist.ids_for(torch.tensor([[5, 0, 0]]))
    assert ids.tolist() == [0, 1, 2, 3, 9, 11, 12]


def test_missing_or_foreign_shortlists_are_clear_errors(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.en"
    source.write_text("Hello.\n", encoding="utf-8")
    assert main(["translate", "-m", str(tiny_model_dir), "-i", str(source), "--shortlist"]) == 2
    assert "shortlist.pt not found: build the model's shortlist with `nmt shortlist`" in (
        capsys.readouterr().err
    )
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    wrong = Shortlist(torch.zeros(7, 2, dtype=torch.long), torch.arange(4, 6), 9, "cooccurrence")
    wrong.save(model_dir / "shortlist.pt")
    with pytest.raises(Exception, match="built for vocabularies of 7 and 9 pieces"):
        Translator.from_pretrained(model_dir)
    assert np.array_equal(wrong.frequent.numpy(), [4, 5])


def test_greedy_over_a_shortlist_holding_its_output_finds_that_output(
    tiny_model_dir: Path, lines: list[str]
) -> None:
    """The argmax over a subset holding it is the same argmax, step after step, if the model is
    fed the right pieces: the search's indices into the shortlist are mapped back to ids."""
    translator = Translator.from_pretrained(tiny_model_dir)
    plain = translator.translate_hypotheses(lines, beam_size=1)
    used = sorted({t for (h,) in plain for t in h.tokens} - {0, 1, 2, 3})
    vocab = translator.tokenizer.tgt_vocab_size
    assert len(used) < vocab // 4  # indices into the shortlist are not the ids
    no_candidates = torch.full((translator.tokenizer.src_vocab_size, 1), -1)
    translator.shortlist = Shortlist(no_candidates, torch.tensor(used), vocab, "test")
    short = translator.translate_hypotheses(lines, beam_size=1, shortlist=True)
    assert [h.tokens for (h,) in short] == [h.tokens for (h,) in plain]
    assert [h.text for (h,) in short] == [h.text for (h,) in plain]
