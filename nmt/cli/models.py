"""`nmt average` and `nmt push`: what is done with a trained model directory (nmt.model_dir,
nmt.hub): its step checkpoints averaged, and the model shared on the Hugging Face Hub."""

from __future__ import annotations

import argparse

from nmt.cli.common import Command
from nmt.errors import NMTError

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


def _add_push(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL_DIR", help="a model directory written by nmt train")
    parser.add_argument(
        "repo_id", metavar="ORG/NAME", help="the Hub repository (created if absent)"
    )
    parser.add_argument(
        "--weights",
        choices=("best", "averaged"),
        default="best",
        help="model.pt (the best validation's weights) or averaged.pt (nmt average), uploaded as "
        "model.pt; never the training state (default: %(default)s)",
    )
    parser.add_argument(
        "--scores",
        metavar="DIR",
        help="nmt evaluate --json files, one per test set, for the model card's metrics "
        "(default: MODEL_DIR/scores or the scores/ beside MODEL_DIR, if any)",
    )
    parser.add_argument(
        "--revision",
        metavar="BRANCH",
        help="commit to this branch, created if absent (default: main)",
    )
    parser.add_argument(
        "--private", action="store_true", help="create the repository private (if it is new)"
    )
    parser.add_argument(
        "--token",
        help="a Hub access token with write access (default: HF_TOKEN or `hf auth login`'s)",
    )
    parser.add_argument(
        "--license", default="cc-by-4.0", help="the model card's licence (default: %(default)s)"
    )


def _run_push(args: argparse.Namespace) -> int:
    from nmt.hub import push
    from nmt.model_dir import ModelDir

    model_dir = ModelDir(args.model)
    weights = model_dir.averaged if args.weights == "averaged" else model_dir.weights
    if args.weights == "averaged" and not weights.is_file():
        raise NMTError(f"{weights}: not found; `nmt average {args.model}` writes it")
    uploaded = push(
        model_dir.path,
        args.repo_id,
        weights=weights,
        scores_dir=args.scores,
        private=args.private,
        license=args.license,
        revision=args.revision,
        token=args.token,
    )
    where = f"{args.repo_id}" + (f" (branch {args.revision})" if args.revision else "")
    print(f"uploaded {', '.join(uploaded)} to {where}")
    return 0


COMMANDS.append(
    (
        "push",
        "Upload a model directory's weights, tokenizer, config and scores to the Hugging Face "
        "Hub, with a model card.",
        _add_push,
        _run_push,
    )
)
