"""nmt.evaluation and `nmt evaluate`: scores, signatures and significance equal those of the
sacrebleu command line on the shared dev sets; bad input is an error naming files and line counts;
no model code is imported."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from nmt import evaluation
from nmt.cli import main
from nmt.config import config_from_dict, save_config
from nmt.evaluation import EvaluationError
from nmt.textio import TextError

DATA_DIR = Path(os.environ.get("NMT_DATA_DIR", "/work/shared/data/en-es"))
DEV_SETS = ["flores/dev.es", "tatoeba/dev.es", "wmt/newstest2012.es"]


def _dev_set(name: str) -> Path:
    path = DATA_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set NMT_DATA_DIR to the shared en-es data)")
    return path


def _system_output(lines: list[str], drop_every: int, swap: bool) -> list[str]:
    """A deterministic stand-in for a system: some words dropped, some neighbours swapped."""
    output = []
    for i, line in enumerate(lines):
        words = [w for j, w in enumerate(line.split()) if (i + j) % drop_every != drop_every - 1]
        if swap and i % 2 and len(words) > 3:
            words[1], words[2] = words[2], words[1]
        output.append(" ".join(words))
    return output


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _start_sacrebleu(*args: str | Path, seed: str | None = None) -> subprocess.Popen:
    """The real ``sacrebleu`` command line, started in the background so our side runs meanwhile."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("SACREBLEU_SEED", None)
    if seed is not None:
        env["SACREBLEU_SEED"] = seed
    command = [sys.executable, "-m", "sacrebleu", "--quiet", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip


def _output(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr
    return stdout


@pytest.fixture(scope="module")
def flores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first 300 FLORES dev lines with three systems: fast enough to resample.

    ``close`` is the baseline with one line in a hundred from ``system``: a small gain whose p-value
    is neither 0 nor 1, so the paired test's arithmetic shows."""
    references = evaluation.read_text_file(_dev_set("flores/dev.es"))[:300]
    baseline = _system_output(references, 3, swap=True)
    system = _system_output(references, 6, swap=False)
    close = [
        s if i % 100 == 0 else b for i, (b, s) in enumerate(zip(baseline, system, strict=True))
    ]
    folder = tmp_path_factory.mktemp("flores")
    return {
        "ref": _write(folder / "ref.es", references),
        "baseline": _write(folder / "baseline.es", baseline),
        "system": _write(folder / "system.es", system),
        "close": _write(folder / "close.es", close),
    }


# ---- equality with the sacrebleu command line ----------------------------------------------------


@pytest.mark.parametrize("n_refs", [1, 2])
@pytest.mark.parametrize("dev_set", DEV_SETS)
def test_scores_and_signatures_equal_sacrebleu_command_line(
    dev_set: str, n_refs: int, tmp_path: Path
) -> None:
    reference_files = [_dev_set(dev_set)]
    references = [evaluation.read_text_file(reference_files[0])]
    if n_refs == 2:
        # Two references on the first 1,000 lines: whole files are covered with one reference, and
        # two-reference TER on all of newstest2012 would take most of the time budget of the tests.
        references[0] = references[0][:1000]
        reference_files[0] = _write(tmp_path / "ref1", references[0])
        references.append([line.lower() for line in _system_output(references[0], 7, swap=True)])
        reference_files.append(_write(tmp_path / "ref2", references[1]))
    hypothesis_file = _write(tmp_path / "hyp", _system_output(references[0], 5, swap=True))
    # Six decimals: far more than sacrebleu's default of one, so any difference would show.
    command = [*reference_files, "-i", hypothesis_file, "-w", "6", "-f", "text"]
    theirs = _start_sacrebleu(*command, "-m", "bleu", "chrf", "ter")
    theirs_chrf_pp = _start_sacrebleu(*command, "-m", "chrf", "--chrf-word-order", "2")

    hypotheses = evaluation.read_text_file(hypothesis_file)
    ours = evaluation.compute_scores(hypotheses, references, evaluation.METRICS, width=6)

    expected = [line.strip() for line in _output(theirs).splitlines()]
    expected.insert(2, _output(theirs_chrf_pp).strip())
    assert [score.formatted for score in ours] == expected
    assert [score.label for score in ours] == ["BLEU", "chrF2", "chrF2++", "TER"]
    assert all(f"nrefs:{n_refs}|" in score.signature for score in ours)


@pytest.mark.parametrize("metric", ["bleu", "chrf", "ter"])
def test_sentence_scores_equal_sacrebleu_sentence_level(metric: str, flores: dict) -> None:
    command = [flores["ref"], "-i", flores["system"], "-m", metric, "-sl", "-w", "6", "-f", "text"]
    theirs = _start_sacrebleu(*command)
    hypotheses = evaluation.read_text_file(flores["system"])
    ours = evaluation.sentence_scores(
        hypotheses, [evaluation.read_text_file(flores["ref"])], metric
    )

    expected = [line.split(" = ", 1) for line in _output(theirs).splitlines()]
    assert len(ours.scores) == len(expected) == 300
    assert {prefix for prefix, _ in expected} == {f"{ours.label}|{ours.signature}"}
    assert [f"{s:.6f}" for s in ours.scores] == [rest.split()[0] for _, rest in expected]


def test_sentence_bleu_uses_effective_order_like_sacrebleu() -> None:
    scores = evaluation.sentence_scores(["the cat"], [["the cat sat"]], "bleu")
    assert "eff:yes" in scores.signature
    assert scores.scores[0] > 0


def test_paired_bootstrap_equals_sacrebleu_paired_bs(flores: dict) -> None:
    command = [flores["ref"], "-i", flores["baseline"], flores["close"], "--paired-bs",
               "--paired-bs-n", "200", "-m", "bleu", "chrf", "ter",
               "-w", "10", "-f", "text"]  # fmt: skip
    theirs = _start_sacrebleu(*command, seed="7")
    baseline = evaluation.read_text_file(flores["baseline"])
    system = evaluation.read_text_file(flores["close"])
    references = [evaluation.read_text_file(flores["ref"])]
    before = os.environ.get("SACREBLEU_SEED")
    ours = evaluation.paired_significance(
        baseline, system, references, ["bleu", "chrf", "ter"], n_samples=200, seed=7
    )
    assert os.environ.get("SACREBLEU_SEED") == before

    # sacrebleu's table: "score (mean ± ci)" per metric, baseline row first; then the p-values.
    # (Its JSON output cannot be used: it fails on numpy float32 means in sacrebleu 2.6.)
    table = _output(theirs)
    cells = re.findall(r"([0-9.]+) \(([0-9.]+) ± ([0-9.]+)\)", table)
    p_values = re.findall(r"\(p = ([0-9.]+)\)", table)
    assert cells == [
        *[tuple(f"{x:.10f}" for x in (c.baseline, c.baseline_mean, c.baseline_ci)) for c in ours],
        *[tuple(f"{x:.10f}" for x in (c.system, c.system_mean, c.system_ci)) for c in ours],
    ]
    assert p_values == [f"{c.p_value:.4f}" for c in ours]
    assert any(0.01 < c.p_value < 0.9 for c in ours), "the test pair should not be clear-cut"
    listed = table.split("Metric signatures")[1].splitlines()
    signatures = dict(line.split()[1:3] for line in listed if line.startswith(" - "))
    assert {c.label: c.signature for c in ours} == signatures
    assert all("bs:200|seed:7|" in c.signature for c in ours)


def test_clearly_better_system_is_significant_and_identical_one_is_not(flores: dict) -> None:
    baseline = evaluation.read_text_file(flores["baseline"])
    system = evaluation.read_text_file(flores["system"])
    references = [evaluation.read_text_file(flores["ref"])]
    better, same = (
        evaluation.paired_significance(baseline, other, references, ["bleu"], n_samples=100)[0]
        for other in (system, baseline)
    )
    assert better.difference > 0 and better.significant()
    assert same.difference == 0 and not same.significant()


# ---- what the trainer relies on ------------------------------------------------------------------


def test_ter_is_lower_is_better_and_the_others_higher() -> None:
    assert [evaluation.higher_is_better(m) for m in evaluation.METRICS] == [True, True, True, False]
    scores = evaluation.compute_scores(["a b c d"], [["a b c d"]], ["bleu", "ter"])
    assert [(s.name, round(s.score, 6), s.higher_is_better) for s in scores] == [
        ("bleu", 100.0, True),
        ("ter", 0.0, False),
    ]


def test_module_imports_no_model_code() -> None:
    code = "import json, sys, nmt.evaluation; print(json.dumps(sorted(sys.modules)))"
    modules = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                        text=True, check=True).stdout)  # fmt: skip
    forbidden = ("torch", "nmt.model", "nmt.search", "nmt.train", "nmt.translator")
    assert [m for m in modules if m.split(".")[0] == "torch" or m.startswith(forbidden)] == []


def test_evaluate_command_on_files_never_imports_torch(flores: dict) -> None:
    code = (
        "import sys; from nmt.cli import main; "
        f"main(['evaluate', '--hyp', {str(flores['system'])!r}, '--ref', {str(flores['ref'])!r}]);"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


# ---- errors --------------------------------------------------------------------------------------


def test_line_count_mismatch_names_both_files_and_both_counts(tmp_path: Path, capsys) -> None:
    hyp = _write(tmp_path / "hyp.es", ["a", "b"])
    ref = _write(tmp_path / "ref.es", ["a", "b", "c"])
    assert main(["evaluate", "--hyp", str(hyp), "--ref", str(ref)]) == 2
    message = capsys.readouterr().err
    assert f"{hyp} has 2 lines but {ref} has 3" in message


def test_mismatch_in_second_reference_names_that_reference(tmp_path: Path, capsys) -> None:
    hyp = _write(tmp_path / "hyp.es", ["a", "b"])
    ref1 = _write(tmp_path / "ref1.es", ["a", "b"])
    ref2 = _write(tmp_path / "ref2.es", ["a"])
    assert main(["evaluate", "--hyp", str(hyp), "--ref", str(ref1), "--ref", str(ref2)]) == 2
    assert f"{hyp} has 2 lines but {ref2} has 1" in capsys.readouterr().err


def test_empty_hypothesis_file_is_an_error_not_a_zero_score(tmp_path: Path, capsys) -> None:
    hyp = _write(tmp_path / "hyp.es", [])
    ref = _write(tmp_path / "ref.es", ["a", "b", "c"])
    assert main(["evaluate", "--hyp", str(hyp), "--ref", str(ref)]) == 2
    assert f"{hyp} is empty but {ref} has 3 lines" in capsys.readouterr().err


def test_empty_hypotheses_and_references_have_nothing_to_score() -> None:
    with pytest.raises(EvaluationError, match="both empty"):
        evaluation.compute_scores([], [[]])


def test_baseline_with_wrong_line_count_is_named(tmp_path: Path, capsys) -> None:
    hyp = _write(tmp_path / "hyp.es", ["a", "b"])
    ref = _write(tmp_path / "ref.es", ["a", "b"])
    base = _write(tmp_path / "base.es", ["a", "b", "c", "d"])
    argv = ["evaluate", "--hyp", str(hyp), "--ref", str(ref), "--baseline", str(base)]
    assert main(argv) == 2
    assert f"{base} has 4 lines but {ref} has 2" in capsys.readouterr().err


def test_unknown_metric_is_an_error_listing_the_choices(tmp_path: Path, capsys) -> None:
    hyp = _write(tmp_path / "hyp.es", ["a"])
    assert main(["evaluate", "--hyp", str(hyp), "--ref", str(hyp), "--metrics", "bleu,meteor"]) == 2
    assert "unknown metric 'meteor'; choose from bleu, chrf, chrf++, ter" in capsys.readouterr().err


def test_missing_file_and_bad_utf8_are_errors_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(TextError, match="missing.es: file not found"):
        evaluation.read_text_file(tmp_path / "missing.es")
    with pytest.raises(TextError, match="is a directory"):
        evaluation.read_text_file(tmp_path)
    latin1 = tmp_path / "latin1.es"
    latin1.write_bytes("hola\nañO\n".encode("latin-1"))
    with pytest.raises(TextError, match=rf"{latin1}:2: invalid UTF-8"):
        evaluation.read_text_file(latin1)


def test_model_without_source_is_an_error_before_loading_anything(tmp_path: Path, capsys) -> None:
    ref = _write(tmp_path / "ref.es", ["a"])
    assert main(["evaluate", "-m", str(tmp_path), "--ref", str(ref)]) == 2
    assert "-m/--model needs --src FILE" in capsys.readouterr().err


def test_source_with_wrong_line_count_fails_before_translating(tmp_path: Path, capsys) -> None:
    src = _write(tmp_path / "src.en", ["a", "b", "c"])
    ref = _write(tmp_path / "ref.es", ["a", "b"])
    argv = ["evaluate", "-m", str(tmp_path / "no-model"), "--src", str(src), "--ref", str(ref)]
    assert main(argv) == 2
    assert f"{src} has 3 lines but {ref} has 2" in capsys.readouterr().err


def test_model_path_translates_the_source_then_scores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The composition only: a stand-in translator echoes a fixed output and records its options."""
    calls = []

    class EchoTranslator:
        @classmethod
        def from_pretrained(cls, model_dir: str, **options: object) -> EchoTranslator:
            calls.append(("load", model_dir, options))
            return cls()

        def translate(self, lines: list[str], **options: object) -> list[str]:
            calls.append(("translate", lines, options))
            return ["el gato duerme en casa", "hola a todos mis amigos"]

    monkeypatch.setitem(sys.modules, "nmt.translator", SimpleNamespace(Translator=EchoTranslator))
    model = str(tmp_path / "model")  # its config.yaml checks the search flags before loading
    (tmp_path / "model").mkdir()
    save_config(config_from_dict({}, source="test"), tmp_path / "model" / "config.yaml")
    src = _write(tmp_path / "src.en", ["the cat sleeps", "hello"])
    ref = _write(tmp_path / "ref.es", ["el gato duerme en casa", "hola a todos mis amigos"])
    argv = ["evaluate", "-m", model, "--src", str(src), "--ref", str(ref), "--metrics",
            "bleu", "--beam-size", "3", "--batch-size", "16", "--json"]  # fmt: skip
    assert main(argv) == 0
    load = {"checkpoint": None, "device": "cpu", "threads": None, "precision": "fp32"}
    assert calls == [
        ("load", model, load),
        ("translate", ["the cat sleeps", "hello"], {"beam_size": 3, "batch_size": 16}),
    ]
    (record,) = json.loads(capsys.readouterr().out)
    assert round(record["score"], 6) == 100.0
    # without search flags the model's own decoding settings rule: none is passed
    calls.clear()
    argv = [*argv[:7], "--checkpoint", "averaged.pt", "--threads", "2", "--json"]
    assert main(argv) == 0
    load = {**load, "checkpoint": "averaged.pt", "threads": 2}
    assert calls == [("load", model, load), ("translate", ["the cat sleeps", "hello"], {})]
    # a bad search setting is named by its flag, before any model loads
    calls.clear()
    assert main([*argv[:7], "--beam-size", "0"]) == 2
    assert "--beam-size" in capsys.readouterr().err and calls == []


def test_evaluate_takes_either_hyp_or_a_model(tmp_path: Path, capsys) -> None:
    hyp = _write(tmp_path / "hyp.es", ["hola"])
    both = ["evaluate", "--hyp", str(hyp), "-m", str(tmp_path), "--ref", str(hyp)]
    for argv in (both, ["evaluate", "--ref", str(hyp)]):
        assert main(argv) == 2
        assert "give either --hyp FILE" in capsys.readouterr().err
    assert main(["evaluate", "--hyp", str(hyp), "--ref", str(hyp), "--beam-size", "4"]) == 2
    assert "search flags (such as --beam-size) are for -m" in capsys.readouterr().err


def test_model_is_evaluated_with_its_own_decoding_settings(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    from nmt.translator import Translator

    sources = ["The cat sleeps.", "Where is the station?", "I like green tea very much."]
    src = _write(tmp_path / "src.en", sources)
    ref = _write(tmp_path / "ref.es", ["El gato duerme.", "¿Dónde está la estación?", "Me gusta."])
    argv = ["evaluate", "-m", str(tiny_model_dir), "--src", str(src), "--ref", str(ref)]
    argv += ["--checkpoint", str(tiny_model_dir / "model.pt"), "--threads", "1", "--json"]
    assert main(argv) == 0
    scores = {s["name"]: s["score"] for s in json.loads(capsys.readouterr().out)}
    translator = Translator.from_pretrained(tiny_model_dir)  # the config's beam 3
    hypotheses = translator.translate(sources)
    expected = evaluation.compute_scores(
        hypotheses, [evaluation.read_text_file(ref)], ["bleu", "chrf", "ter"]
    )
    assert scores == {s.name: s.score for s in expected}


# ---- reading files -------------------------------------------------------------------------------


def test_lines_split_like_sacrebleu_on_newline_only_with_trailing_space_stripped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "odd.es"
    path.write_bytes("\ufeffuno \r\ndos\u2028tres\n\ncuatro".encode())
    assert evaluation.read_text_file(path) == ["uno", "dos\u2028tres", "", "cuatro"]


# ---- the command's output ------------------------------------------------------------------------


def test_evaluate_prints_a_table_of_scores_with_signatures(flores: dict, capsys) -> None:
    assert main(["evaluate", "--hyp", str(flores["system"]), "--ref", str(flores["ref"])]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["metric", "score", "signature"]
    expected = evaluation.compute_scores(
        evaluation.read_text_file(flores["system"]), [evaluation.read_text_file(flores["ref"])]
    )
    assert [row.split() for row in rows] == [
        [s.label, f"{s.score:.1f}", s.signature] for s in expected
    ]


def test_evaluate_json_lists_every_metric_with_score_and_signature(flores: dict, capsys) -> None:
    argv = ["evaluate", "--hyp", str(flores["system"]), "--ref", str(flores["ref"]),
            "--ref", str(flores["baseline"]), "--metrics", "bleu,chrf++", "--json"]  # fmt: skip
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == ["bleu", "chrf++"]
    assert all(r["signature"].startswith("nrefs:2|") for r in records)
    assert all(isinstance(r["score"], float) for r in records)


def test_evaluate_with_baseline_reports_difference_p_value_and_ci(flores: dict, capsys) -> None:
    argv = ["evaluate", "--hyp", str(flores["system"]), "--ref", str(flores["ref"]),
            "--baseline", str(flores["baseline"]), "--bootstrap-samples", "100"]  # fmt: skip
    assert main([*argv, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == ["bleu", "chrf", "ter"]
    for record in records:
        assert record["difference"] == pytest.approx(record["system"] - record["baseline"])
        assert record["significant"] is True
        assert 0 < record["p_value"] < 0.05 and record["system_ci"] > 0
    record = records[0]

    assert main(argv) == 0
    header, row, *rest = capsys.readouterr().out.splitlines()
    assert "p-value" in header and "significant at 0.05" in header
    assert row.startswith("BLEU") and row.endswith("yes") and "±" in row
    assert f"BLEU: {record['signature']}" in rest


def test_model_path_with_a_real_model_scores_its_own_translations(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    """`nmt evaluate -m` equals `nmt translate` followed by `nmt evaluate --hyp`."""
    source, reference = tmp_path / "src.en", tmp_path / "ref.es"
    source.write_text("Hello.\nWhere is the station?\n\nI like tea.\n", encoding="utf-8")
    reference.write_text("Hola.\n¿Dónde está la estación?\n\nMe gusta el té.\n", encoding="utf-8")
    hypotheses = tmp_path / "hyp.es"
    assert (
        main(
            [
                "translate",
                "-m",
                str(tiny_model_dir),
                "-i",
                str(source),
                "-o",
                str(hypotheses),
                "--beam-size",
                "2",
            ]
        )
        == 0
    )
    assert main(["evaluate", "--hyp", str(hypotheses), "--ref", str(reference), "--json"]) == 0
    two_steps = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "evaluate",
                "-m",
                str(tiny_model_dir),
                "--src",
                str(source),
                "--ref",
                str(reference),
                "--beam-size",
                "2",
                "--json",
            ]
        )
        == 0
    )
    one_step = json.loads(capsys.readouterr().out)
    assert one_step == two_steps
