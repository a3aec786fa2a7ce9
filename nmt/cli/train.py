"""`nmt train`: a training run from a YAML config (nmt.train), resumed, restarted or fine-tuned."""

from __future__ import annotations

import argparse

from nmt.cli.common import Command, add_overrides

COMMANDS: list[Command] = []


def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config (see recipes/en_es/conf/ for examples)")
    add_overrides(parser, "training.lr=5e-4")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest readable checkpoint in training.model_dir (an error, "
        "changing nothing, if checkpoints are there but none can be read)",
    )
    start.add_argument(
        "--restart",
        action="store_true",
        help="delete training.model_dir's checkpoints and model.pt and train from step 0 "
        "(its SentencePiece model is kept)",
    )
    parser.add_argument(
        "--init-from",
        metavar="MODEL_DIR",
        help="fine-tune: start from this model's SentencePiece model and best weights (the "
        "config's model section must match it), with a fresh optimizer and schedule",
    )


def _run_train(args: argparse.Namespace) -> int:
    from nmt.config import load_config
    from nmt.train import train

    config = load_config(args.config, args.overrides)
    train(config, resume=args.resume, restart=args.restart, init_from=args.init_from)
    return 0


COMMANDS.append(
    (
        "train",
        "Train a model from a YAML config (also under torchrun, for several processes).",
        _add_train,
        _run_train,
    )
)
