#!/usr/bin/env python
"""Draw a training run from its train_log.jsonl: loss and validation BLEU/chrF against steps.

    python tools/plot_training.py MODEL_DIR/train_log.jsonl -o training.png

Top panel: training loss (per log window, label-smoothed, per target token) and validation loss
(no smoothing); bottom panel: validation BLEU and chrF. Needs matplotlib
(``pip install -e '.[plot]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_log(path: Path) -> tuple[list[dict], list[dict]]:
    """The ``train`` and ``valid`` records of a train_log.jsonl, sorted by step.

    A resumed run logs again the steps after its checkpoint; the last record of a step wins.
    """
    train: dict[int, dict] = {}
    valid: dict[int, dict] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                # a run killed mid-write leaves a partial last line
                print(f"warning: {path}:{number}: not JSON, skipped", file=sys.stderr)
                continue
            if record.get("event") == "train":
                train[record["step"]] = record
            elif record.get("event") == "valid":
                valid[record["step"]] = record
    return [train[s] for s in sorted(train)], [valid[s] for s in sorted(valid)]


def plot(train: list[dict], valid: list[dict], output: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 6.5))
    top.plot([r["step"] for r in train], [r["loss"] for r in train], label="training loss")
    scored = [r for r in valid if "loss" in r]
    top.plot(
        [r["step"] for r in scored],
        [r["loss"] for r in scored],
        "o-",
        label="validation loss",
    )
    top.set_ylabel("loss per target token")
    top.legend()
    top.grid(alpha=0.3)
    for metric, label in (("bleu", "validation BLEU"), ("chrf", "validation chrF")):
        points = [r for r in valid if metric in r]
        if points:
            bottom.plot([r["step"] for r in points], [r[metric] for r in points], "o-", label=label)
    bottom.set_xlabel("step")
    bottom.set_ylabel("score")
    bottom.grid(alpha=0.3)
    if bottom.lines:
        bottom.legend()
    figure.suptitle(title)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="a model directory's train_log.jsonl")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PNG")
    parser.add_argument("--title", help="default: the model directory's path")
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            "plot_training.py: error: needs matplotlib: pip install -e '.[plot]'", file=sys.stderr
        )
        return 2
    if not args.log.is_file():
        print(f"plot_training.py: error: {args.log}: no such file", file=sys.stderr)
        return 2
    train, valid = read_log(args.log)
    if not train and not valid:
        print(f"plot_training.py: error: {args.log} has no train or valid records", file=sys.stderr)
        return 2
    plot(train, valid, args.output, args.title or str(args.log.parent))
    print(f"{args.output}: {len(train)} training and {len(valid)} validation points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
