"""recipes/en_es: run.sh end to end with the tiny config on a slice of the shared data, the first
steps of the CPU and GPU configs, and the recipe's tools (length-penalty tuning, results table)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from nmt.checkpoint import list_step_checkpoints, load_checkpoint
from nmt.translator import Translator
from tests.conftest import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "en_es"
STAGES = ("0.data", "1.spm", "2.train", "3.average", "4.translate", "5.score", "6.results")
TEST_SETS = ("tatoeba/test", "flores/dev", "wmt/newstest2012", "tico19/test")
EVAL_LINES = 30
TUNED_VALID_LINES = 20


def has_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def load_script(path: Path) -> ModuleType:
    """Import a script of tools/ or recipes/ (they are not packages)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_tool(name: str) -> ModuleType:
    return load_script(ROOT / "tools" / f"{name}.py")


def run_recipe(exp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """recipes/en_es/run.sh with the tiny config on a slice of the shared data."""
    environment = {
        **os.environ,
        "PYTHON": sys.executable,
        "DATA_DIR": str(DATA_DIR),
        "MAX_TRAIN_PAIRS": "2000",
        "MAX_EVAL_LINES": str(EVAL_LINES),
        "VALID_LINES": str(EVAL_LINES),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        **env,
    }
    command = ["bash", str(RECIPE / "run.sh"), "--config", str(RECIPE / "conf" / "tiny.yaml")]
    result = subprocess.run(
        [*command, "--exp", str(exp), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"run.sh failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of every stage, en -> es (about a minute on 2 busy cores)."""
    if not (DATA_DIR / "tatoeba").is_dir():
        pytest.skip(f"no corpus at {DATA_DIR} (set NMT_DATA_DIR to the shared en-es data)")
    exp = tmp_path_factory.mktemp("recipe") / "tiny.en-es"
    # validation takes 20 lines of each validation set; stage 4 tunes on the other 10
    # alphas far from the config's 1.0, so that the tuned one visibly changes the output; each
    # with and without an output minimum
    run_recipe(exp, VALID_LINES=str(TUNED_VALID_LINES), TUNE_ALPHAS="3 10", TUNE_MIN_LEN_A="0 1")
    return exp


@pytest.fixture(scope="module")
def tiny_run_es_en(tiny_run: Path) -> Path:
    """The other direction, with a 20-step model (its translations may well be empty), trained
    in two goes: the first stops after step 10's checkpoint as if killed there."""
    exp = tiny_run.parent / "tiny.es-en"
    every = ["--direction", "es-en", "--set", "training.valid_every=10"]
    run_recipe(exp, *every, "--stop-stage", "2", "--set", "training.max_steps=10")
    (exp / "done" / "2.train").unlink()  # a killed training leaves no marker
    run_recipe(exp, *every, "--set", "training.max_steps=20")
    return exp


def test_every_stage_leaves_its_outputs(tiny_run: Path) -> None:
    exp = tiny_run
    assert sorted(p.name for p in (exp / "done").iterdir()) == list(STAGES)
    manifest = json.loads((exp / "data" / "manifest.json").read_text())
    news = ["wmt/newstest2008", "wmt/newstest2009", "wmt/newstest2010", "wmt/newssyscomb2009"]
    # newstest2011 past the lines that validation (VALID_LINES) and tuning (TUNE_LINES) read
    news.append(f"wmt/newstest2011:{TUNED_VALID_LINES + 800 + 1}-")
    assert manifest["train"] == ["tatoeba/train", "newscommentary/train", *news]
    repeats = [manifest["sets"][name].get("repeat", 1) for name in manifest["train"]]
    assert repeats == [1, 1, 4, 4, 4, 4, 4]
    assert manifest["sets"]["tatoeba/train"]["lines"] == 2000
    assert manifest["test"] == list(TEST_SETS)
    for name in ("spm.model", "config.yaml", "model.pt", "averaged.pt", "train_log.jsonl"):
        assert (exp / "model" / name).is_file(), name
    assert list_step_checkpoints(exp / "model" / "checkpoints")
    for name in TEST_SETS:
        source = (exp / "data" / f"{name}.en").read_text(encoding="utf-8").splitlines()
        output = (exp / "translations" / f"{name}.es").read_text(encoding="utf-8").splitlines()
        assert len(output) == len(source) == EVAL_LINES
    stages = [line.split("\t")[1] for line in (exp / "stage_times.tsv").read_text().splitlines()]
    for name in ("data", "spm", "train", "average", "translate", "score", "results"):
        assert name in stages
    assert (exp / "results.md").is_file()
    assert json.loads((exp / "machine.json").read_text())["cpu_count"] >= 1


def test_averaged_weights_have_the_layout_of_model_pt(tiny_run: Path) -> None:
    averaged = load_checkpoint(tiny_run / "model" / "averaged.pt")
    best = load_checkpoint(tiny_run / "model" / "model.pt")
    assert averaged["model"].keys() == best["model"].keys()
    assert averaged["src_vocab_size"] == best["src_vocab_size"]
    assert averaged["tgt_vocab_size"] == best["tgt_vocab_size"]
    assert averaged["averaged_steps"] == [50, 100, 150]  # tiny.yaml keeps the last 3


def test_scores_parse_with_bleu_chrf_and_signatures(tiny_run: Path) -> None:
    for name in TEST_SETS:
        scores = {
            s["name"]: s for s in json.loads((tiny_run / "scores" / f"{name}.json").read_text())
        }
        assert {"bleu", "chrf"} <= scores.keys()
        for score in scores.values():
            assert isinstance(score["score"], float)
            assert "version:" in score["signature"]
        assert scores["bleu"]["signature"].startswith("nrefs:1|case:mixed")


def test_results_table_lists_every_test_set_with_its_slice(tiny_run: Path) -> None:
    table = (tiny_run / "results.md").read_text(encoding="utf-8")
    for name in TEST_SETS:
        assert f"`{name}`" in table
    assert f"{EVAL_LINES} of 16,583" in table  # tatoeba/test, sliced
    assert "nrefs:1|case:mixed|eff:no|tok:13a" in table
    (summary,) = json.loads((tiny_run / "results.json").read_text())
    assert summary["direction"] == "en-es"
    assert summary["training"]["steps"] == 150
    assert summary["training"]["tgt_tok_s"] > 0
    assert summary["weights"]["parameters"] > 0
    assert [s["set"] for s in summary["scores"]] == list(TEST_SETS)


def test_length_penalty_is_tuned_on_held_out_validation_lines(tiny_run: Path) -> None:
    tuned = json.loads((tiny_run / "length_penalty.json").read_text())
    assert tuned["best"] in (3.0, 10.0) and tuned["min_len_a"] in (0.0, 1.0)
    rows = tuned["rows"]
    grid = [(alpha, minimum) for alpha in (3.0, 10.0) for minimum in (0.0, 1.0)]
    assert {(r["alpha"], r["min_len_a"], r["set"]) for r in rows} == {
        (*setting, name) for setting in grid for name in ("tatoeba/dev", "wmt/newstest2011")
    }
    assert all(r["lines"] == EVAL_LINES - TUNED_VALID_LINES for r in rows)

    def mean(setting: tuple[float, float]) -> float:
        return sum(r["bleu"] + r["chrf"] for r in rows if (r["alpha"], r["min_len_a"]) == setting)

    assert mean((tuned["best"], tuned["min_len_a"])) == max(mean(setting) for setting in grid)
    (summary,) = json.loads((tiny_run / "results.json").read_text())
    assert summary["length_penalty"] == tuned["best"] and summary["length_penalty_tuned"]
    assert summary["min_len_a"] == tuned["min_len_a"]
    assert "(tuned on held-out validation lines)" in (tiny_run / "results.md").read_text()
    valid = (tiny_run / "data" / "valid.en").read_text(encoding="utf-8").splitlines()
    assert len(valid) == 2 * TUNED_VALID_LINES
    # stage 4 translated with the tuned alpha (and the config's other decoding settings)
    translator = Translator.from_pretrained(
        tiny_run / "model", checkpoint=tiny_run / "model" / "averaged.pt"
    )
    source = (tiny_run / "data" / "flores" / "dev.en").read_text(encoding="utf-8").splitlines()
    output = (tiny_run / "translations" / "flores" / "dev.es").read_text(encoding="utf-8")
    assert output.splitlines() == translator.translate(
        source, length_penalty=tuned["best"], min_len_a=tuned["min_len_a"]
    )
    assert output.splitlines() != translator.translate(source, length_penalty=1.0)


def test_es_en_translates_spanish_into_english(tiny_run_es_en: Path) -> None:
    exp = tiny_run_es_en
    assert "src_lang: es" in (exp / "model" / "config.yaml").read_text()
    for name in TEST_SETS:
        source = (exp / "data" / f"{name}.es").read_text(encoding="utf-8").splitlines()
        output = (exp / "translations" / f"{name}.en").read_text(encoding="utf-8").splitlines()
        assert len(output) == len(source)
        assert json.loads((exp / "scores" / f"{name}.json").read_text())
    (summary,) = json.loads((exp / "results.json").read_text())
    assert summary["direction"] == "es-en"
    # every validation line is used by validation: nothing to tune on, the config's alpha
    assert not (exp / "length_penalty.json").exists()
    assert summary["length_penalty"] == 1.0 and not summary["length_penalty_tuned"]


def test_training_stage_resumes_from_the_last_checkpoint(tiny_run_es_en: Path) -> None:
    log = tiny_run_es_en / "model" / "train_log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    resumes = [r for r in records if r["event"] == "resume"]
    assert [r["step"] for r in resumes] == [10]
    assert [r["step"] for r in records if r["event"] == "valid"] == [10, 20]
    (summary,) = json.loads((tiny_run_es_en / "results.json").read_text())
    assert summary["training"]["sessions"] == 2
    # the training time is the trainer's clock, summed over both sessions
    last = load_checkpoint(list_step_checkpoints(tiny_run_es_en / "model" / "checkpoints")[-1][1])
    assert summary["training"]["seconds"] == round(last["progress"]["train_seconds"], 1) > 0
    assert "(last of 2 sessions)" in (tiny_run_es_en / "results.md").read_text()


def test_readme_table_holds_both_directions(
    tiny_run: Path, tiny_run_es_en: Path, tmp_path: Path
) -> None:
    tool = load_tool("results_table")
    readme = tmp_path / "README.md"
    readme.write_text((RECIPE / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    exps = ["--exp", str(tiny_run), "--exp", str(tiny_run_es_en)]
    assert tool.main([*exps, "--update-readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    results = text[text.index(tool.START_MARKER) : text.index(tool.END_MARKER)]
    for direction in ("en-es", "es-en"):
        for name in TEST_SETS:
            assert f"| {direction} | `{name}` |" in results
    assert "No full run" not in results
    before = (RECIPE / "README.md").read_text(encoding="utf-8")
    assert text[: text.index(tool.START_MARKER)] == before[: before.index(tool.START_MARKER)]
    # a saved results.json stands in for its experiment directory
    saved = ["--exp", str(tiny_run / "results.json"), "--exp", str(tiny_run_es_en)]
    assert tool.main([*saved, "--markdown", str(tmp_path / "saved.md")]) == 0
    assert tool.main([*exps, "--markdown", str(tmp_path / "dirs.md")]) == 0
    # (stage 6 wrote results.json before its own time was recorded)
    from_dirs = (tmp_path / "dirs.md").read_text().splitlines()
    from_saved = (tmp_path / "saved.md").read_text().splitlines()
    assert [line for line in from_saved if not line.startswith("| 6 results")] == [
        line for line in from_dirs if not line.startswith("| 6 results")
    ]
    assert tool.main(["--exp", str(tiny_run / "stage_times.tsv")]) == 2


@pytest.mark.skipif(not has_matplotlib(), reason="matplotlib is not installed")
def test_training_curve_is_a_png(tiny_run: Path) -> None:
    assert (tiny_run / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_skips_every_finished_stage(tiny_run: Path) -> None:
    outputs = [tiny_run / "model" / "averaged.pt", tiny_run / "results.md"]
    before = [path.stat().st_mtime_ns for path in outputs]
    result = run_recipe(tiny_run)
    assert result.stdout.count("done already, skipped") == len(STAGES)
    assert [path.stat().st_mtime_ns for path in outputs] == before


def test_forced_stage_runs_again_and_later_stages_are_no_longer_done(tiny_run: Path) -> None:
    result = run_recipe(tiny_run, "--stage", "5", "--stop-stage", "5", "--force")
    assert "stage 5 (score): finished" in result.stdout
    assert not (tiny_run / "done" / "6.results").exists()
    result = run_recipe(tiny_run)  # only stage 6 is left to do
    assert result.stdout.count("done already, skipped") == len(STAGES) - 1
    assert (tiny_run / "done" / "6.results").exists()


def test_beam_size_override_retunes_and_is_reported(tiny_run: Path, tmp_path: Path) -> None:
    """BEAM_SIZE changes stage 4's beam for a model trained with another in its config: the
    tuning made with the old beam is redone, and stage 6 reports the beam actually used."""
    exp = tmp_path / "tiny.en-es"
    shutil.copytree(tiny_run, exp)
    config_beam = json.loads((exp / "results.json").read_text())[0]["beam_size"]
    assert json.loads((exp / "length_penalty.json").read_text())["beam_size"] == config_beam
    beam = 1 if config_beam != 1 else 2
    settings = {"VALID_LINES": str(TUNED_VALID_LINES), "TUNE_ALPHAS": "3 10"}
    for stage in ("4.translate", "5.score", "6.results"):
        (exp / "done" / stage).unlink()  # as if a user reran stage 4 with --force
    result = run_recipe(exp, BEAM_SIZE=str(beam), **settings)
    assert f"search: beam {beam}, --length-penalty" in result.stdout
    tuned = json.loads((exp / "length_penalty.json").read_text())
    # tuned and translated again (no --force) although the weights did not change
    assert tuned["beam_size"] == beam
    assert "translated already" not in result.stdout
    assert json.loads((exp / "search.json").read_text())["beam_size"] == beam
    (summary,) = json.loads((exp / "results.json").read_text())
    assert summary["beam_size"] == beam
    assert f"beam {beam}, length penalty" in (exp / "results.md").read_text()
    translator = Translator.from_pretrained(exp / "model", checkpoint=exp / "model" / "averaged.pt")
    source = (exp / "data" / "flores" / "dev.en").read_text(encoding="utf-8").splitlines()
    output = (exp / "translations" / "flores" / "dev.es").read_text(encoding="utf-8")
    assert output.splitlines() == translator.translate(
        source, beam_size=beam, length_penalty=tuned["best"], min_len_a=tuned["min_len_a"]
    )
    # the same stage without the override goes back to the config's beam
    run_recipe(exp, "--stage", "4", "--force", **settings)
    assert json.loads((exp / "length_penalty.json").read_text())["beam_size"] == config_beam
    assert json.loads((exp / "results.json").read_text())[0]["beam_size"] == config_beam


def test_mbr_samples_override_retunes_retranslates_and_is_reported(
    tiny_run: Path, tmp_path: Path
) -> None:
    """MBR_SAMPLES turns sampling MBR on in stage 4 for a model whose config has it off: tuning
    and translations are redone with it, stage 6 says so, and dropping it redoes them again."""
    exp = tmp_path / "tiny.en-es"
    shutil.copytree(tiny_run, exp)
    settings = {"VALID_LINES": str(TUNED_VALID_LINES), "TUNE_ALPHAS": "3 10"}
    for stage in ("4.translate", "5.score", "6.results"):
        (exp / "done" / stage).unlink()
    result = run_recipe(exp, MBR_SAMPLES="3", **settings)
    assert "--mbr --mbr-samples 3" in result.stdout
    assert "translated already" not in result.stdout
    tuned = json.loads((exp / "length_penalty.json").read_text())
    assert tuned["mbr_samples"] == 3
    assert json.loads((exp / "search.json").read_text())["mbr_samples"] == 3
    assert json.loads((exp / "results.json").read_text())[0]["mbr"] == 3
    assert (
        "minimum Bayes risk (chrF) over 3 sampled translations" in (exp / "results.md").read_text()
    )
    translator = Translator.from_pretrained(exp / "model", checkpoint=exp / "model" / "averaged.pt")
    source = (exp / "data" / "flores" / "dev.en").read_text(encoding="utf-8").splitlines()
    output = (exp / "translations" / "flores" / "dev.es").read_text(encoding="utf-8")
    assert output.splitlines() == translator.translate(
        source,
        length_penalty=tuned["best"],
        min_len_a=tuned["min_len_a"],
        mbr=True,
        mbr_samples=3,
    )
    # without the override: the config's search (no MBR), tuned and translated again
    for stage in ("4.translate", "5.score", "6.results"):
        (exp / "done" / stage).unlink()
    result = run_recipe(exp, **settings)
    assert "translated already" not in result.stdout
    assert "mbr_samples" not in json.loads((exp / "length_penalty.json").read_text())
    assert "mbr_samples" not in json.loads((exp / "search.json").read_text())
    assert json.loads((exp / "results.json").read_text())[0]["mbr"] is None


# ---- the first steps of the real configs ------------------------------------------------------


@pytest.mark.parametrize(
    "config, overrides",
    [
        ("cpu.yaml", ["training.threads=1"]),
        # no GPU here: the base model on the CPU, with the config's bf16 autocast
        ("gpu.yaml", ["training.device=cpu", "data.num_proc=1", "training.threads=1"]),
    ],
)
def test_config_trains_its_first_steps_on_the_cpu(
    tiny_run: Path, tmp_path: Path, config: str, overrides: list[str]
) -> None:
    """Two steps and a validation of the real model, on the tiny run's data and tokenizer."""
    data = tiny_run / "data"
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(tiny_run / "model" / "spm.model", model_dir)  # 1,000 pieces: a fast test
    command = [sys.executable, "-m", "nmt", "train", str(RECIPE / "conf" / config)]
    settings = [
        f'data.train_src=["{data / "tatoeba/train.en.gz"}"]',
        f'data.train_tgt=["{data / "tatoeba/train.es.gz"}"]',
        f"data.dev_src={data / 'valid.en'}",
        f"data.dev_tgt={data / 'valid.es'}",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"training.model_dir={model_dir}",
        "training.max_steps=2",
        "training.max_tokens=200",
        "training.valid_max_sentences=2",
        *overrides,
    ]
    for setting in settings:
        command += ["--set", setting]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [step for step, _ in list_step_checkpoints(model_dir / "checkpoints")] == [2]
    weights = load_checkpoint(model_dir / "model.pt")["model"]
    assert sum(t.numel() for t in weights.values()) > 1_000_000  # the real model, not tiny's


# ---- tools ------------------------------------------------------------------------------------


def test_tune_length_penalty_grids_alphas_betas_and_minimums_and_marks_the_best(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from nmt.evaluation import compute_scores

    tool = load_tool("tune_length_penalty")
    src, ref = DATA_DIR / "tatoeba" / "dev.en", DATA_DIR / "tatoeba" / "dev.es"
    result = tmp_path / "tuning.json"
    argv = ["-m", str(tiny_model_dir), "--set", "tatoeba", str(src), str(ref), "--skip", "100"]
    argv += ["--max-lines", "12", "--alphas", "0.0", "2.0", "--betas", "0.0", "1.0"]
    argv += ["--min-len-a", "0", "1.2"]
    assert tool.main([*argv, "--beam-size", "3", "--json", str(result)]) == 0
    tuning = json.loads(result.read_text())
    rows = tuning["rows"]
    assert [(r["alpha"], r["beta"], r["min_len_a"]) for r in rows] == [
        (a, b, m) for a in (0, 2) for b in (0, 1) for m in (0, 1.2)
    ]
    assert all(r["lines"] == 12 and r["set"] == "tatoeba" for r in rows)
    best = max(rows, key=lambda r: r["bleu"] + r["chrf"])
    assert best["bleu"] + best["chrf"] == max(r["bleu"] + r["chrf"] for r in rows)
    chosen = (tuning["best"], tuning["coverage_penalty"], tuning["min_len_a"])
    assert chosen == (best["alpha"], best["beta"], best["min_len_a"])
    # each row is sacrebleu's score of the translator's output with that setting
    translator = Translator.from_pretrained(tiny_model_dir)
    sources = src.read_text(encoding="utf-8").splitlines()[100:112]
    references = ref.read_text(encoding="utf-8").splitlines()[100:112]
    row = rows[7]
    hypotheses = translator.translate(
        sources,
        beam_size=3,
        length_penalty=row["alpha"],
        coverage_penalty=row["beta"],
        min_len_a=row["min_len_a"],
    )
    assert hypotheses != translator.translate(
        sources, beam_size=3, length_penalty=row["alpha"], coverage_penalty=row["beta"]
    )  # the minimum changed the output
    bleu, chrf = compute_scores(hypotheses, [references], metrics=("bleu", "chrf"))
    assert (row["bleu"], row["chrf"]) == (round(bleu.score, 2), round(chrf.score, 2))


def test_results_table_replaces_only_the_text_between_the_markers(tmp_path: Path) -> None:
    tool = load_tool("results_table")
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# Title\n\nbefore\n{tool.START_MARKER}\nold table\n{tool.END_MARKER}\nafter\n",
        encoding="utf-8",
    )
    tool.update_readme(readme, "| new | table |\n")
    tool.update_readme(readme, "| new | table |\n")  # idempotent
    expected = (
        f"# Title\n\nbefore\n{tool.START_MARKER}\n| new | table |\n{tool.END_MARKER}\nafter\n"
    )
    assert readme.read_text(encoding="utf-8") == expected


def test_recipe_readme_has_the_result_markers() -> None:
    text = (RECIPE / "README.md").read_text(encoding="utf-8")
    assert text.index("<!-- results:start -->") < text.index("<!-- results:end -->")


def test_download_without_network_stops_at_once_and_asks_for_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    prepare_data = load_script(RECIPE / "prepare_data.py")
    assert prepare_data.main(["--download", "--out", str(tmp_path / "data")]) == 2
    assert "DATA_DIR" in capsys.readouterr().err


def test_download_drops_training_pairs_that_share_a_side_with_an_evaluation_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download path with the network replaced: what it keeps, and the files it writes."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    prepare_data = load_script(RECIPE / "prepare_data.py")
    corpora = {
        "tatoeba/train": (
            ["Hello!", "I see a dog.", "Good night"],
            ["¡Hola!", "Veo un perro.", "x"],
        ),
        "newscommentary/train": (["Prices rose.", ""], ["Los precios subieron.", "Vacío"]),
        "tatoeba/dev": (["good night."], ["buenas noches"]),
        "tatoeba/test": (["hello"], ["hola"]),
        "flores/dev": (["A wiki sentence."], ["Una frase."]),
    }
    monkeypatch.setattr(prepare_data, "fetch_hub", lambda name: corpora[name])
    monkeypatch.setattr(prepare_data, "fetch_wmt", lambda name: ([name], [name.upper()]))
    out = tmp_path / "data"
    assert prepare_data.main(["--download", "--out", str(out), "--valid-lines", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    # "Hello!" matches the test set's "hello", "Good night" the dev set's "good night."
    assert manifest["sets"]["tatoeba/train"]["lines"] == 1
    assert manifest["sets"]["newscommentary/train"]["lines"] == 1  # the empty pair is gone
    assert manifest["test"] == ["tatoeba/test", "flores/dev", "wmt/newstest2012"]  # no TICO-19
    # newssyscomb2009 has no download, the 1-line newstest2011 no lines past the validation one
    news = ["wmt/newstest2008", "wmt/newstest2009", "wmt/newstest2010"]
    assert manifest["train"] == ["tatoeba/train", "newscommentary/train", *news]
    assert manifest["valid"] == ["tatoeba/dev", "wmt/newstest2011"]
    assert (out / "valid.en").read_text().splitlines() == ["good night.", "wmt/newstest2011"]
    train = out / manifest["sets"]["tatoeba/train"]["files"]["es"]
    assert gzip.decompress(train.read_bytes()).decode() == "Veo un perro.\n"
    # asked for by name, a set without a download is an error
    argv = ["--download", "--out", str(out), "--train", "tatoeba/train", "wmt/newssyscomb2009"]
    assert prepare_data.main(argv) == 2


def write_pairs(directory: Path, name: str, english: list[str], spanish: list[str]) -> None:
    for lang, lines in (("en", english), ("es", spanish)):
        path = directory / f"{name}.{lang}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def test_local_news_training_sets_drop_evaluation_overlap_and_repeat(tmp_path: Path) -> None:
    """Earlier WMT test sets as training data: not pre-filtered like the shared corpora, so
    stage 0 removes the pairs that share a side with an evaluation set, and records the repeat."""
    prepare_data = load_script(RECIPE / "prepare_data.py")
    data = tmp_path / "data"
    write_pairs(data, "tatoeba/train", ["Hello!"], ["¡Hola!"])
    write_pairs(data, "newscommentary/train", ["Prices rose."], ["Los precios subieron."])
    write_pairs(data, "wmt/newstest2011", ["Valid line."], ["Línea de validación."])
    write_pairs(data, "wmt/newstest2012", ["Test headline"], ["Titular de prueba"])
    write_pairs(
        data,
        "wmt/newstest2008",
        ["Markets fell", "test headline.", "Rain in Madrid.", "Nothing here"],
        ["Los mercados cayeron", "Otro titular", "Lluvia en Madrid.", "Línea de Validación"],
    )
    out = tmp_path / "out"
    train = ["tatoeba/train", "newscommentary/train", "wmt/newstest2008*3"]
    argv = ["--data-dir", str(data), "--out", str(out), "--valid-lines", "1"]
    assert prepare_data.main([*argv, "--train", *train]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train"] == ["tatoeba/train", "newscommentary/train", "wmt/newstest2008"]
    news = manifest["sets"]["wmt/newstest2008"]
    # "test headline." matches newstest2012's English side, "Línea de Validación" newstest2011's
    assert (news["lines"], news["of"], news["repeat"]) == (2, 4, 3)
    assert gzip.decompress((out / news["files"]["en"]).read_bytes()).decode().splitlines() == [
        "Markets fell",
        "Rain in Madrid.",
    ]
    assert "repeat" not in manifest["sets"]["tatoeba/train"]
    assert (out / "tatoeba" / "train.en").is_symlink()  # pre-filtered corpora stay links
    # a set cannot be trained and evaluated on, and a repeat is a positive whole number
    assert prepare_data.main([*argv, "--train", "tatoeba/train", "wmt/newstest2012"]) == 2
    assert prepare_data.main([*argv, "--train", "tatoeba/train*0"]) == 2
    assert prepare_data.main([*argv, "--train", "tatoeba/train*x"]) == 2
    # by default the news sets come in 4 times each; one missing from a local copy is left out
    assert prepare_data.main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train"] == ["tatoeba/train", "newscommentary/train", "wmt/newstest2008"]
    assert manifest["sets"]["wmt/newstest2008"]["repeat"] == 4


def test_default_training_sets_read_the_news_validation_set_past_its_held_out_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    prepare_data = load_script(RECIPE / "prepare_data.py")
    data = tmp_path / "data"
    write_pairs(data, "tatoeba/train", ["Hello!"], ["¡Hola!"])
    write_pairs(data, "newscommentary/train", ["Prices rose."], ["Los precios subieron."])
    write_pairs(data, "wmt/newssyscomb2009", ["Combined."], ["Combinado."])
    english = ["Valid one.", "Tune two.", "Train three.", "Train four."]
    write_pairs(data, "wmt/newstest2011", english, ["Uno.", "Dos.", "Tres.", "Cuatro."])
    out = tmp_path / "out"
    argv = ["--data-dir", str(data), "--out", str(out), "--valid-lines", "1"]
    assert prepare_data.main([*argv, "--held-out-lines", "2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    news = ["wmt/newssyscomb2009", "wmt/newstest2011:3-"]
    assert manifest["train"] == ["tatoeba/train", "newscommentary/train", *news]
    entry = manifest["sets"]["wmt/newstest2011:3-"]
    assert (entry["lines"], entry["repeat"]) == (2, 4)
    lines = gzip.decompress((out / entry["files"]["en"]).read_bytes()).decode().splitlines()
    assert lines == english[2:]
    assert "wmt/newstest2008 not found" in capsys.readouterr().out
    # nothing past the held-out lines: the default range is left out, not an error
    assert prepare_data.main([*argv, "--held-out-lines", "4"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train"] == ["tatoeba/train", "newscommentary/train", news[0]]
    assert "wmt/newstest2011 has no lines past the first 4" in capsys.readouterr().out


def test_training_range_of_a_validation_set_skips_its_held_out_lines(tmp_path: Path) -> None:
    """``SET:FIRST-LAST`` trains on part of a validation set: only past the lines validation and
    tuning read, without pairs that share a side with those lines or another evaluation set."""
    prepare_data = load_script(RECIPE / "prepare_data.py")
    data = tmp_path / "data"
    write_pairs(data, "tatoeba/train", ["Hello!"], ["¡Hola!"])
    write_pairs(data, "wmt/newstest2012", ["Test line."], ["Línea de prueba."])
    english = ["Valid one.", "Tune two.", "Train three.", "Tune two.", "Test line.", "Six.", "7."]
    spanish = ["Uno.", "Dos.", "Tres.", "Otro dos.", "Otra prueba.", "Seis.", "Siete."]
    write_pairs(data, "wmt/newstest2011", english, spanish)
    out = tmp_path / "out"
    argv = ["--data-dir", str(data), "--out", str(out), "--valid-lines", "1"]
    argv += ["--held-out-lines", "2"]
    train = ["tatoeba/train", "wmt/newstest2011:3-6*2"]
    assert prepare_data.main([*argv, "--train", *train]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train"] == train[:1] + ["wmt/newstest2011:3-6"]
    entry = manifest["sets"]["wmt/newstest2011:3-6"]
    # line 4 repeats a held-out line's English side, line 5 the test set's
    assert (entry["lines"], entry["of"], entry["repeat"]) == (2, 4, 2)
    lines = gzip.decompress((out / entry["files"]["es"]).read_bytes()).decode().splitlines()
    assert lines == ["Tres.", "Seis."]
    # the validation set itself is untouched: whole, and its first line validates
    assert manifest["sets"]["wmt/newstest2011"]["lines"] == 7
    assert (out / "valid.es").read_text().splitlines() == ["Uno."]
    assert prepare_data.main([*argv, "--train", "wmt/newstest2011:7-"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sets"]["wmt/newstest2011:7-"]["lines"] == 1  # to the end
    for bad in (
        "wmt/newstest2011:2-",
        "wmt/newstest2012:2-",
        "wmt/newstest2011:5-4",
        "wmt/newstest2011:0-",
        "wmt/newstest2011:x",
        "wmt/newstest2011:9-",
    ):
        assert prepare_data.main([*argv, "--train", bad]) == 2, bad


def test_recipe_trains_on_each_set_as_many_times_as_it_repeats(tmp_path: Path) -> None:
    if not (DATA_DIR / "wmt" / "newstest2008.en").is_file():
        pytest.skip(f"no corpus at {DATA_DIR} (set NMT_DATA_DIR to the shared en-es data)")
    exp = tmp_path / "tiny.en-es"
    # newstest2011 past the lines that validation (VALID_LINES) and tuning (TUNE_LINES) read
    sets = "tatoeba/train newscommentary/train*2 wmt/newstest2008*3 wmt/newstest2011:831-*2"
    run_recipe(exp, "--stop-stage", "2", "--set", "training.max_steps=2", TRAIN_SETS=sets)
    manifest = json.loads((exp / "data" / "manifest.json").read_text())
    assert manifest["sets"]["wmt/newstest2008"]["of"] == 2051
    assert manifest["options"]["held_out_lines"] == EVAL_LINES + 800
    assert manifest["sets"]["wmt/newstest2011:831-"]["of"] == 3003 - 830
    config = (exp / "model" / "config.yaml").read_text()
    train_src = yaml.safe_load(config)["data"]["train_src"]
    assert [Path(p).relative_to(exp / "data").as_posix() for p in train_src] == [
        "tatoeba/train.en.gz",
        *["newscommentary/train.en.gz"] * 2,
        *["wmt/newstest2008.en.gz"] * 3,
        *["wmt/newstest2011.831-3003.en.gz"] * 2,
    ]


def test_ablations_share_the_baseline_vocabulary_and_tabulate_validation_bleu(
    tmp_path: Path,
) -> None:
    if not (DATA_DIR / "tatoeba").is_dir():
        pytest.skip(f"no corpus at {DATA_DIR} (set NMT_DATA_DIR to the shared en-es data)")
    environment = {
        **os.environ,
        "PYTHON": sys.executable,
        "CONFIG": str(RECIPE / "conf" / "tiny.yaml"),
        "OUT": str(tmp_path),
        "MINUTES": "0.1",
        "MAX_TRAIN_PAIRS": "2000",
        "MAX_EVAL_LINES": str(EVAL_LINES),
        "VALID_LINES": str(EVAL_LINES),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    result = subprocess.run(
        [
            "bash",
            str(RECIPE / "ablations.sh"),
            "--data-dir",
            str(DATA_DIR),
            "--set",
            "training.log_every=7",
            "baseline",
            "fused",
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out = tmp_path / "en-es"
    baseline, fused = out / "baseline" / "model", out / "fused" / "model"
    assert (baseline / "spm.model").read_bytes() == (fused / "spm.model").read_bytes()
    assert "decoder: fused" in (fused / "config.yaml").read_text()
    # both vary from the reference (lr 1e-3, input feeding), not from today's conf/cpu.yaml
    assert "decoder: input_feeding" in (baseline / "config.yaml").read_text()
    for model in baseline, fused:  # and the reference's values of conf/cpu.yaml's later changes
        config = (model / "config.yaml").read_text()
        for setting in ("lr: 0.001", "schedule: plateau", "dropout: 0.2", "attention_size: 0"):
            assert f"  {setting}\n" in config
        assert "  drop_final_period: 0.0\n" in config
    for model in baseline, fused:  # the common --set reaches every ablation
        assert "log_every: 7" in (model / "config.yaml").read_text()
    table = (out / "ablations.md").read_text()
    assert "every run with training.log_every=7" in table
    rows = [line for line in table.splitlines() if line[:2] == "| "]
    assert [row.split("|")[1].strip() for row in rows[2:]] == ["baseline", "fused"]
    for row in rows[2:]:
        steps, bleu = row.split("|")[4:6]  # after the name, settings and BLEU at step 500
        assert int(steps.replace(",", "")) > 0 and 0.0 <= float(bleu) <= 100.0


def test_spm_train_takes_config_overrides(tmp_path: Path) -> None:
    source = DATA_DIR / "tatoeba" / "dev.en"
    if not source.is_file():
        pytest.skip(f"{source} not found (set NMT_DATA_DIR to the shared en-es data)")
    text = tmp_path / "text.txt"
    lines = source.read_text(encoding="utf-8").splitlines()[:500]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from nmt.cli import main
    from nmt.tokenizer import Tokenizer

    code = main(
        [
            "spm-train",
            "--src",
            str(text),
            "--tgt",
            str(text),
            "-o",
            str(tmp_path / "spm"),
            "--set",
            "tokenizer.vocab_size=321",
        ]
    )
    assert code == 0
    assert Tokenizer.load(tmp_path / "spm").src_vocab_size == 321
