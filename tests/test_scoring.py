"""Forced decoding (nmt.scoring, `nmt score`): the search's own output scores what the search
said it scored; files stay line-aligned."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from nmt.cli import main
from nmt.scoring import forced_decode, score_pairs
from nmt.translator import Translator
from tests.conftest import DATA_DIR


@pytest.fixture(scope="module")
def translator(tiny_model_dir: Path) -> Translator:
    return Translator.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return (DATA_DIR / "tatoeba" / "dev.en").read_text(encoding="utf-8").splitlines()[700:730]


def test_the_beams_output_scores_its_own_log_probability(
    translator: Translator, lines: list[str]
) -> None:
    """With length penalty 0 a beam's score is the sum of its tokens' log-probs (EOS included):
    forced decoding of the beam's tokens gives the same sum, token by token."""
    found = translator.translate_hypotheses(lines, beam_size=3, n_best=3, length_penalty=0.0)
    sources = translator.tokenizer.encode_src(lines)
    for source, n_best in zip(sources, found, strict=True):
        scores, _ = forced_decode(
            translator.model, [source] * len(n_best), [t.tokens for t in n_best]
        )
        for translation, token_scores in zip(n_best, scores, strict=True):
            assert len(token_scores) == len(translation.tokens) + 1
            assert sum(token_scores) == pytest.approx(translation.score, abs=1e-4)
    # and a different target scores differently (the test would notice targets being ignored)
    other = forced_decode(translator.model, [sources[0]], [found[1][0].tokens])[0][0]
    assert sum(other) != pytest.approx(found[0][0].score, abs=1e-3)


def test_ensembles_score_with_the_mean_of_their_models(
    tiny_model_dir: Path, second_tiny_model_dir: Path, lines: list[str]
) -> None:
    targets = Translator.from_pretrained(tiny_model_dir).translate(lines[:6])
    pair = Translator.from_pretrained([tiny_model_dir, second_tiny_model_dir])
    both = score_pairs(pair, lines[:6], targets)
    # each model alone, then the mean of their per-token log-probs
    alone = [
        score_pairs(Translator.from_pretrained(d), lines[:6], targets)
        for d in (tiny_model_dir, second_tiny_model_dir)
    ]
    for score, first, second in zip(both, *alone, strict=True):
        mean = (torch.tensor(first.token_log_probs) + torch.tensor(second.token_log_probs)) / 2
        assert score.token_log_probs == pytest.approx(mean.tolist(), abs=1e-5)


def test_cli_scores_every_pair_in_order(
    translator: Translator, tiny_model_dir: Path, lines: list[str], tmp_path: Path
) -> None:
    targets = translator.translate(lines)
    sources = ["", lines[0], "", *lines[1:]]  # an empty pair, then a pair with no source
    targets = ["", targets[0], targets[1], *targets[1:]]
    src, tgt, out = tmp_path / "s.en", tmp_path / "t.es", tmp_path / "scores.txt"
    src.write_text("\n".join(sources) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(targets) + "\n", encoding="utf-8")
    argv = ["score", "-m", str(tiny_model_dir), "--src", str(src), "--tgt", str(tgt)]
    assert main([*argv, "-o", str(out), "--word-scores", "--batch-size", "4"]) == 0
    rows = [line.split(" ||| ") for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(sources)
    expected = score_pairs(translator, sources, targets)
    assert float(rows[0][0]) == 0.0 and rows[0][1] == ""
    assert float(rows[2][0]) == -math.inf
    for (total, words), score in zip(rows, expected, strict=True):
        assert float(total) == pytest.approx(score.total, abs=1e-5)
        if score.token_log_probs and math.isfinite(score.total):
            values = [float(v) for v in words.split()]
            assert values == pytest.approx(score.token_log_probs, abs=1e-5)
            assert sum(values) == pytest.approx(float(total), abs=1e-4)
    normalized = tmp_path / "normalized.txt"
    assert main([*argv, "-o", str(normalized), "--normalize"]) == 0
    means = [float(v) for v in normalized.read_text(encoding="utf-8").split()]
    assert means[1] == pytest.approx(expected[1].total / len(expected[1].token_log_probs), abs=1e-5)


def test_cli_refuses_files_of_different_lengths(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, tgt = tmp_path / "s.en", tmp_path / "t.es"
    src.write_text("a\nb\n", encoding="utf-8")
    tgt.write_text("a\n", encoding="utf-8")
    argv = ["score", "-m", str(tiny_model_dir), "--src", str(src), "--tgt", str(tgt)]
    assert main(argv) == 2
    assert "has 2 lines but" in capsys.readouterr().err
