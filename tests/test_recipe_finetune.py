"""recipes/en_es/finetune_news.sh end to end on a slice of the shared data: a tiny base model
fine-tuned on the news sets for a few steps, both scored on newstest2012 and FLORES."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nmt.evaluation import compute_scores, read_text_file
from nmt.translator import Translator
from tests.conftest import DATA_DIR

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "en_es"
EVAL_LINES = 12


def run_finetune(base: Path, exp: Path) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "PYTHON": sys.executable,
        "DATA_DIR": str(DATA_DIR),
        "MAX_TRAIN_PAIRS": "300",
        "MAX_EVAL_LINES": str(EVAL_LINES),
        "VALID_LINES": str(EVAL_LINES),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    settings = ["training.max_steps=6", "training.valid_every=3", "training.max_tokens=400"]
    settings += ["training.threads=1", f"training.valid_max_sentences={EVAL_LINES}"]
    command = ["bash", str(RECIPE / "finetune_news.sh"), "--base", str(base), "--exp", str(exp)]
    for setting in settings:
        command += ["--set", setting]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_finetune_news_starts_from_the_base_and_tabulates_before_and_after(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    if not (DATA_DIR / "wmt" / "newstest2008.en").is_file():
        pytest.skip(f"no corpus at {DATA_DIR} (set NMT_DATA_DIR to the shared en-es data)")
    exp = tmp_path / "finetune"
    result = run_finetune(tiny_model_dir, exp)

    manifest = json.loads((exp / "data" / "manifest.json").read_text())
    news = ["wmt/newstest2008", "wmt/newstest2009", "wmt/newstest2010", "wmt/newssyscomb2009"]
    assert manifest["train"] == ["newscommentary/train", *news, "wmt/newstest2011:1301-"]
    assert manifest["valid"] == ["wmt/newstest2011"]
    assert manifest["test"] == ["wmt/newstest2012", "flores/dev"]

    model = exp / "model"
    config = yaml.safe_load((model / "config.yaml").read_text())
    base_config = yaml.safe_load((tiny_model_dir / "config.yaml").read_text())
    assert config["model"] == base_config["model"]  # the base's architecture...
    assert config["decoding"] == base_config["decoding"]  # ...and search
    finetuning = yaml.safe_load((RECIPE / "conf" / "finetune_news.yaml").read_text())["training"]
    for key in ("lr", "schedule", "decay_fraction"):
        assert config["training"][key] == finetuning[key], key
    assert (model / "spm.model").read_bytes() == (tiny_model_dir / "spm.model").read_bytes()
    log = [json.loads(line) for line in (model / "train_log.jsonl").read_text().splitlines()]
    assert {"event": "init_from", "weights": str(tiny_model_dir / "model.pt")}.items() <= (
        [r for r in log if r["event"] == "init_from"][0].items()
    )

    summary = json.loads((exp / "finetune.json").read_text())
    assert summary["steps"] == 6
    assert [row["set"] for row in summary["rows"]] == ["wmt/newstest2012", "flores/dev"]
    for row in summary["rows"]:
        source = read_text_file(exp / "data" / f"{row['set']}.en")
        reference = read_text_file(exp / "data" / f"{row['set']}.es")
        assert row["lines"] == len(source) == EVAL_LINES
        for which, model_dir in (("base", tiny_model_dir), ("tuned", model)):
            # each model with its own decoding settings, as nmt translate would
            output = Translator.from_pretrained(model_dir).translate(source)
            bleu, chrf = compute_scores(output, [reference], ["bleu", "chrf"])
            assert row[f"bleu_{which}"] == round(bleu.score, 2), (row["set"], which)
            assert row[f"chrf_{which}"] == round(chrf.score, 2), (row["set"], which)
    table = (exp / "finetune.md").read_text()
    assert "| `wmt/newstest2012` | 12 of 3,003 |" in table and "| `flores/dev` |" in table
    assert "finished" in result.stdout

    again = run_finetune(tiny_model_dir, exp)  # finished steps and scores are kept
    assert again.stdout.count("done already, skipped") == 2
    assert again.stdout.count("scored already") == 4
