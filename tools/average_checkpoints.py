#!/usr/bin/env python
"""Average the weights of several checkpoints of one model into a file `nmt translate` loads.

    python tools/average_checkpoints.py --inputs a.pt b.pt --output averaged.pt
    python tools/average_checkpoints.py --dir MODEL/checkpoints --last 5 --output MODEL/averaged.pt
    python tools/average_checkpoints.py --dir MODEL/checkpoints --best 5 --output MODEL/averaged.pt

``--last N`` takes the N step checkpoints with the highest steps, ``--best N`` the N with the best
validation score recorded in them (the trainer keeps ``training.keep_last`` and ``keep_best`` of
them, so ask for no more than it kept). The output has the layout of ``model.pt``: ``model`` (the
element-wise mean, in the original dtypes), ``src_vocab_size``, ``tgt_vocab_size``, ``step`` (the
newest averaged), and ``averaged_steps``; it is written atomically. Use it with
``nmt translate -m MODEL --checkpoint MODEL/averaged.pt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nmt.checkpoint import (
    average_checkpoints,
    list_step_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from nmt.errors import NMTError


def select_checkpoints(directory: Path, last: int | None, best: int | None) -> list[Path]:
    """The ``last`` newest or the ``best`` best-scoring step checkpoints of ``directory``."""
    found = list_step_checkpoints(directory)
    if not found:
        raise NMTError(f"{directory}: no step_N.pt checkpoints to average")
    count = last if last is not None else best
    if count < 1:
        raise NMTError(f"the number of checkpoints to average must be at least 1, got {count}")
    if last is not None:
        chosen = found[-count:]
    else:
        scored = []
        for step, path in found:
            score = load_checkpoint(path).get("metrics", {}).get("score")
            if score is None:
                raise NMTError(f"{path} records no validation score; use --last instead of --best")
            scored.append((score, step, path))
        chosen = [(step, path) for _, step, path in sorted(scored, reverse=True)[:count]]
    if len(chosen) < count:
        print(
            f"warning: {directory} holds {len(chosen)} checkpoints, fewer than the {count} asked "
            "for; averaging those (raise training.keep_last / keep_best to keep more)",
            file=sys.stderr,
        )
    return [path for _, path in sorted(chosen)]


def average_to_file(paths: list[Path], output: Path) -> dict:
    """Average ``paths`` into ``output`` in model.pt's layout; returns what was written."""
    if len(set(paths)) != len(paths):
        raise NMTError("a checkpoint is listed twice; each must count once in the mean")
    sizes = set()
    steps = []
    for path in paths:
        state = load_checkpoint(path)
        sizes.add((state.get("src_vocab_size"), state.get("tgt_vocab_size")))
        # a trainer checkpoint counts its steps in "progress", model.pt in "step"
        steps.append(state.get("progress", {}).get("step", state.get("step")))
    if len(sizes) != 1:
        raise NMTError(f"the checkpoints have different vocabulary sizes: {sorted(sizes)}")
    src_vocab_size, tgt_vocab_size = sizes.pop()
    averaged = {
        "model": average_checkpoints(list(paths)),
        "src_vocab_size": src_vocab_size,
        "tgt_vocab_size": tgt_vocab_size,
        "step": max((s for s in steps if s is not None), default=None),
        "averaged_steps": steps,
    }
    save_checkpoint(averaged, output)
    return averaged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--inputs", nargs="+", type=Path, metavar="FILE", help="checkpoints")
    what.add_argument("--dir", type=Path, metavar="DIR", help="a model's checkpoints/ folder")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--last", type=int, metavar="N", help="with --dir: the N newest (default 5)"
    )
    choice.add_argument("--best", type=int, metavar="N", help="with --dir: the N best on dev")
    parser.add_argument("--output", "-o", type=Path, required=True, metavar="FILE")
    args = parser.parse_args(argv)
    try:
        if args.dir is not None:
            if args.last is None and args.best is None:
                args.last = 5
            paths = select_checkpoints(args.dir, args.last, args.best)
        else:
            if args.last is not None or args.best is not None:
                raise NMTError("--last and --best choose among --dir's checkpoints, not --inputs")
            paths = args.inputs
        averaged = average_to_file(paths, args.output)
    except NMTError as error:
        print(f"average_checkpoints.py: error: {error}", file=sys.stderr)
        return 2
    print(
        f"averaged {len(paths)} checkpoints (steps {', '.join(map(str, averaged['averaged_steps']))})"
        f" into {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
