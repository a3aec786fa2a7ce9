#!/usr/bin/env python
"""Collect what recipes/en_es/run.sh measured into a results table (Markdown and JSON).

    python tools/results_table.py --exp EXP --markdown EXP/results.md --json EXP/results.json
    python tools/results_table.py --exp exp/en_es/cpu.en-es --exp exp/en_es/cpu.es-en \\
        --update-readme recipes/en_es/README.md
    python tools/results_table.py --exp recipes/en_es/results/cpu.en-es.json --exp EXP ...

For each experiment directory: the scores of stage 5 (``scores/<set>.json``, sacrebleu's numbers
and signatures), the test sets' line counts from ``data/manifest.json`` (a sliced set shows as
"N of M"), the training time and throughput from ``model/train_log.jsonl``, the parameter count
of the weights that were scored, the stage times of ``stage_times.tsv`` and the machine of
``machine.json``. ``--update-readme`` replaces the text between ``<!-- results:start -->`` and
``<!-- results:end -->`` with the tables, so the README's numbers are the recipe's own.
``--record-machine FILE`` writes that machine description (run.sh does it after training).

``--exp`` also takes the ``results.json`` that stage 6 wrote (``--json``): an experiment directory
holds checkpoints of hundreds of MB and does not outlive its machine, while its summary is small
enough to keep in the repository (``recipes/en_es/results/``), so the README's table can be
rebuilt when only one direction is retrained.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

START_MARKER = "<!-- results:start -->"
END_MARKER = "<!-- results:end -->"
STAGES = ("data", "spm", "train", "average", "translate", "score", "results")


class ResultsError(Exception):
    """An experiment directory lacks what the table needs; the message names the file."""


# ---- reading an experiment --------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} not found (has the stage that writes it run?)") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not valid JSON: {error}") from None


def training_summary(log_path: Path, checkpoint_dir: Path | None = None) -> dict[str, Any]:
    """Steps, time and throughput of the training run(s) logged in ``log_path``.

    The training time is the trainer's own clock saved in the newest step checkpoint of
    ``checkpoint_dir`` (summed over resumes, without the steps an interrupted run redid). Without
    one it is estimated from the log: each start of the trainer (first run or resume) begins with
    a ``data`` record, and the time from its first to its last record is summed over those
    sessions. Throughput is the median of the logged windows.
    """
    sessions: list[list[dict]] = []
    with open(log_path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a killed run's partial last line
            if record.get("event") == "data" or not sessions:
                sessions.append([])
            sessions[-1].append(record)
    records = [r for session in sessions for r in session]
    train = [r for r in records if r.get("event") == "train"]
    valid = [r for r in records if r.get("event") == "valid"]
    steps = [r["step"] for r in records if "step" in r]
    summary: dict[str, Any] = {
        "steps": max(steps, default=0),
        "epochs": train[-1]["epoch"] if train else None,
        "seconds": _trainer_seconds(checkpoint_dir)
        or round(sum(s[-1]["time"] - s[0]["time"] for s in sessions if s), 1),
        "sessions": len(sessions),
        "tgt_tok_s": round(statistics.median(r["tgt_tok_s"] for r in train)) if train else None,
        "src_tgt_tok_s": (
            round(statistics.median(r["src_tgt_tok_s"] for r in train)) if train else None
        ),
    }
    scored = [r for r in valid if "bleu" in r]
    if scored:
        best = max(scored, key=lambda r: r["bleu"])
        summary["best_valid_bleu"] = round(best["bleu"], 2)
        summary["best_valid_step"] = best["step"]
    return summary


def _trainer_seconds(checkpoint_dir: Path | None) -> float | None:
    from nmt.checkpoint import load_latest_checkpoint

    found = load_latest_checkpoint(checkpoint_dir) if checkpoint_dir else None
    if found is None:
        return None
    seconds = found[1].get("progress", {}).get("train_seconds")
    return round(seconds, 1) if seconds else None


def weights_summary(path: Path) -> dict[str, Any]:
    """Parameter count (tied matrices once) and the steps averaged into ``path``."""
    from nmt.checkpoint import load_checkpoint, tensor_aliases

    state = load_checkpoint(path)
    weights = state["model"]
    aliases = tensor_aliases(weights)
    parameters = sum(weights[name].numel() for name, first in aliases.items() if name == first)
    return {
        "file": path.name,
        "parameters": parameters,
        "averaged_steps": state.get("averaged_steps"),
    }


def stage_times(path: Path) -> dict[str, float]:
    """name -> seconds from run.sh's stage_times.tsv (stages, and "translate SET" entries)."""
    if not path.is_file():
        return {}
    times = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 3:
            times[fields[1]] = float(fields[2])
    return times


def summarise(exp: Path) -> dict[str, Any]:
    """Everything the tables show about one experiment directory."""
    import yaml

    manifest = _read_json(exp / "data" / "manifest.json")
    config_path = exp / "model" / "config.yaml"
    if not config_path.is_file():
        raise ResultsError(f"{config_path} not found (has stage 2, train, run?)")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    times = stage_times(exp / "stage_times.tsv")
    scores = []
    for name in manifest["test"]:
        entries = _read_json(exp / "scores" / f"{name}.json")
        scores.append(
            {
                "set": name,
                "lines": manifest["sets"][name]["lines"],
                "of": manifest["sets"][name]["of"],
                "translate_seconds": times.get(f"translate {name}"),
                **{e["name"]: round(e["score"], 2) for e in entries},
                "signatures": {e["label"]: e["signature"] for e in entries},
            }
        )
    machine_path = exp / "machine.json"
    tuned_path = exp / "length_penalty.json"  # stage 4's choice, when it tuned one
    tuned_json = _read_json(tuned_path) if tuned_path.is_file() else None
    tuned = None if tuned_json is None else tuned_json["best"]
    search_path = exp / "search.json"  # stage 4's beam, which may differ from the config's
    search = _read_json(search_path) if search_path.is_file() else {}
    decoding = config["decoding"]
    if "mbr_samples" in search:  # stage 4's MBR_SAMPLES: 0 turned MBR off
        mbr = search["mbr_samples"] or None
    else:
        mbr = (decoding.get("mbr_samples") or "beam") if decoding.get("mbr") else None
    return {
        "experiment": exp.name,
        "direction": f"{config['data']['src_lang']}-{config['data']['tgt_lang']}",
        "model": {k: config["model"][k] for k in ("preset", "cell", "attention", "emb_size")},
        "vocab_size": config["tokenizer"]["vocab_size"],
        "beam_size": search.get("beam_size", config["decoding"]["beam_size"]),
        "mbr": mbr,  # None, "beam" (MBR over the beam) or the number of samples
        "length_penalty": config["decoding"]["length_penalty"] if tuned is None else tuned,
        "length_penalty_tuned": tuned is not None,
        "min_len_a": config["decoding"].get("min_len_a", 0.0)
        if tuned_json is None
        else tuned_json.get("min_len_a", 0.0),
        "data": {
            "origin": manifest["origin"],
            "train": {n: manifest["sets"][n]["lines"] for n in manifest["train"]},
            "valid": manifest["valid"],
        },
        "training": training_summary(
            exp / "model" / "train_log.jsonl", exp / "model" / "checkpoints"
        ),
        "weights": weights_summary(exp / "model" / "averaged.pt"),
        "scores": scores,
        "stage_seconds": {name: times[name] for name in STAGES if name in times},
        "machine": _read_json(machine_path) if machine_path.is_file() else None,
    }


def load_summaries(exp: Path) -> list[dict[str, Any]]:
    """An experiment directory's summary, or the summaries saved in a ``results.json``."""
    if exp.is_dir():
        return [summarise(exp)]
    summaries = _read_json(exp)
    if not isinstance(summaries, list) or not all("scores" in s for s in summaries):
        raise ResultsError(f"{exp}: not a results.json written by this tool (--json)")
    return summaries


def machine_description() -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


# ---- formatting -------------------------------------------------------------------------------


def _epochs_done(epochs: int | None) -> str:
    if not epochs:
        return ""
    return f" ({epochs} epoch{'s' if epochs > 1 else ''} done)"


def _stage_time(summary: dict[str, Any], name: str) -> str:
    """A stage's wall time; a resumed training stage records only its last session."""
    text = duration(summary["stage_seconds"].get(name))
    sessions = summary["training"]["sessions"]
    if name == "train" and name in summary["stage_seconds"] and sessions > 1:
        text += f" (last of {sessions} sessions)"
    return text


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    return [f"| {' | '.join(cells)} |" for cells in (header, align, *rows)]


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(lines: int, total: int) -> str:
    """Lines of a test set; a slice shows as "N of M"."""
    return f"{lines:,}" if lines == total else f"{lines:,} of {total:,}"


def _weights(weights: dict[str, Any]) -> str:
    steps = weights["averaged_steps"]
    if not steps:
        return weights["file"]
    return f"{weights['file']} (steps {', '.join(map(str, steps))})"


def _machine(machine: dict[str, Any] | None) -> str:
    if machine is None:
        return "an unrecorded machine"
    gpu = f", {machine['gpu']}" if machine.get("gpu") else ""
    return f"{machine['cpu']}, {machine['cpu_count']} CPUs{gpu}, torch {machine['torch']}"


def markdown(summaries: list[dict[str, Any]]) -> str:
    """The tables: scores per test set, training, stage times, then signatures and machines."""
    lines = []
    score_rows = []
    for s in summaries:
        for row in s["scores"]:
            score_rows.append(
                [
                    s["direction"],
                    f"`{row['set']}`",
                    _count(row["lines"], row["of"]),
                    _number(row.get("bleu")),
                    _number(row.get("chrf")),
                    duration(row["translate_seconds"]),
                ]
            )
    lines += _table(
        ["direction", "test set", "lines", "BLEU", "chrF", "translation time"],
        score_rows,
        right={2, 3, 4, 5},
    )
    lines.append("")
    train_rows = []
    for s in summaries:
        t, w = s["training"], s["weights"]
        best = (
            f"{t['best_valid_bleu']:.1f} (step {t['best_valid_step']})"
            if "best_valid_bleu" in t
            else "–"
        )
        train_rows.append(
            [
                s["direction"],
                f"`{s['experiment']}`",
                f"{w['parameters'] / 1e6:.1f} M",
                f"{t['steps']:,}" + _epochs_done(t["epochs"]),
                duration(t["seconds"]),
                "–" if t["tgt_tok_s"] is None else f"{t['tgt_tok_s']:,}",
                "–" if t["src_tgt_tok_s"] is None else f"{t['src_tgt_tok_s']:,}",
                best,
                _weights(w),
            ]
        )
    lines += _table(
        [
            "direction",
            "experiment",
            "parameters",
            "steps",
            "training time",
            "target tok/s",
            "src+tgt tok/s",
            "best validation BLEU",
            "weights scored",
        ],
        train_rows,
        right={2, 3, 4, 5, 6},
    )
    lines.append("")
    stage_rows = [
        [f"{i} {name}", *(_stage_time(s, name) for s in summaries)]
        for i, name in enumerate(STAGES)
        if any(name in s["stage_seconds"] for s in summaries)
    ]
    lines += _table(
        ["stage", *(f"`{s['experiment']}`" for s in summaries)],
        stage_rows,
        right=set(range(1, len(summaries) + 1)),
    )
    lines.append("")
    signatures = {
        label: signature
        for s in summaries
        for row in s["scores"]
        for label, signature in row["signatures"].items()
    }
    lines.append("sacrebleu signatures:")
    lines.append("")
    lines += [f"- {label}: `{signature}`" for label, signature in signatures.items()]
    lines.append("")
    for s in summaries:
        lines.append(
            f"`{s['experiment']}`: {s['model']['preset'] or 'custom'} {s['model']['cell'].upper()} "
            f"model, {s['vocab_size']:,}-piece vocabulary, beam {s['beam_size']}, length penalty "
            f"{s['length_penalty']:g}{_minimum(s)}{_tuned(s)}{_mbr(s)}; trained on "
            f"{_machine(s['machine'])}."
        )
    return "\n".join(lines) + "\n"


def _mbr(summary: dict[str, Any]) -> str:
    mbr = summary.get("mbr")
    if mbr is None:
        return ""
    over = "the beam" if mbr == "beam" else f"{mbr} sampled translations"
    return f", minimum Bayes risk (chrF) over {over}"


def _minimum(summary: dict[str, Any]) -> str:
    minimum = summary.get("min_len_a", 0.0)
    return f", output at least {minimum:g} x the source pieces" if minimum else ""


def _tuned(summary: dict[str, Any]) -> str:
    if not summary.get("length_penalty_tuned"):
        return ""
    return " (tuned on held-out validation lines)"


def update_readme(readme: Path, text: str) -> None:
    """Replace what lies between the result markers of ``readme`` with ``text``."""
    content = readme.read_text(encoding="utf-8")
    start, end = content.find(START_MARKER), content.find(END_MARKER)
    if start < 0 or end < start:
        raise ResultsError(f"{readme}: needs the lines {START_MARKER} and then {END_MARKER}")
    head = content[: start + len(START_MARKER)]
    readme.write_text(f"{head}\n{text}{content[end:]}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--exp",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="an experiment directory, or the results.json its stage 6 wrote",
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables here")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the numbers here")
    parser.add_argument("--update-readme", type=Path, metavar="README")
    parser.add_argument("--record-machine", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    try:
        if args.record_machine is not None:
            args.record_machine.write_text(json.dumps(machine_description(), indent=1) + "\n")
        if not args.exp:
            if args.record_machine is None:
                parser.error("give --exp DIR (or --record-machine FILE)")
            return 0
        summaries = [summary for exp in args.exp for summary in load_summaries(exp)]
        text = markdown(summaries)
        if args.markdown is not None:
            args.markdown.write_text(text, encoding="utf-8")
        if args.json is not None:
            args.json.write_text(json.dumps(summaries, indent=1) + "\n", encoding="utf-8")
        if args.update_readme is not None:
            update_readme(args.update_readme, text)
        if args.markdown is None and args.update_readme is None:
            print(text, end="")
    except ResultsError as error:
        print(f"results_table.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
