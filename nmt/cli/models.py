"""`nmt average` and `nmt push`: what is done with a trained model directory (nmt.model_dir,
nmt.hub): its step checkpoints averaged, and the model shared on the Hugging Face Hub."""

from __future__ import annotations

import argparse

from nmt.cli.common import Command

COMMANDS: list[Command] = []

_DEFAULT_LAST = 5


def _add_average(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL_DIR", help="a model directory written by nmt train")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--last",
        type=int,
        metavar="N",
        help=f"the N newest step checkpoints (default: {_DEFAULT_LAST})",
    )
    choice.add_argument(
        "--best",
        type=int,
        metavar="N",
        help="the N with the best validation score (training.keep_best says how many are kept)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where the averaged weights go (default: MODEL_DIR/averaged.pt); use them with "
        "nmt translate -m MODEL_DIR --checkpoint FILE",
    )


def _run_average(args: argparse.Namespace) -> int:
    from nmt.model_dir import ModelDir

    last = _DEFAULT_LAST if args.last is None and args.best is None else args.last
    path, averaged = ModelDir(args.model).average(last=last, best=args.best, output=args.output)
    steps = ", ".join(map(str, averaged["averaged_steps"]))
    print(f"averaged {len(averaged['averaged_steps'])} checkpoints (steps {steps}) into {path}")
    return 0


COMMANDS.append(
    (
        "average",
        "Average the weights of a model's last or best step checkpoints (into averaged.pt).",
        _add_average,
        _run_average,
    )
)
