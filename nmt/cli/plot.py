"""`nmt plot training|attention`: PNG pictures of a model (nmt.plot); needs the `plot` extra."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.cli.common import Command
from nmt.cli.model_args import add_model_arguments, load_arguments
from nmt.errors import NMTError

COMMANDS: list[Command] = []


def _add_plot(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Needs matplotlib: pip install 'nmt[plot]'."
    what = parser.add_subparsers(dest="picture", metavar="PICTURE", required=True)
    training = what.add_parser(
        "training",
        help="training and validation loss, validation BLEU and chrF, against steps",
        description="Training and validation loss, validation BLEU and chrF against steps, from "
        "the model directory's train_log.jsonl.",
    )
    training.add_argument(
        "model", metavar="MODEL_DIR", help="a model directory (or its train_log.jsonl)"
    )
    training.add_argument("-o", "--output", default="training.png", metavar="PNG")
    training.add_argument("--title", help="default: MODEL_DIR")
    training.set_defaults(draw=_training)

    attention = what.add_parser(
        "attention",
        help="a sentence pair's attention: source pieces across, target pieces down",
        description="The attention of a model over one sentence pair as a heatmap. Without --tgt "
        "the model translates --src (its decoding settings) and the picture is that of its best "
        "translation; with --tgt that translation is forced (each step is fed the previous "
        "piece of it). Cell (t, s) is the weight target piece t gave source piece s.",
    )
    add_model_arguments(attention)
    attention.add_argument("--src", required=True, metavar="TEXT", help="the source sentence")
    attention.add_argument("--tgt", metavar="TEXT", help="a translation to force, not searched")
    attention.add_argument("--beam-size", type=int, metavar="K", help="default: the model's")
    attention.add_argument("-o", "--output", default="attention.png", metavar="PNG")
    attention.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    attention.set_defaults(draw=_attention)


def _run_plot(args: argparse.Namespace) -> int:
    return args.draw(args)


def _training(args: argparse.Namespace) -> int:
    from nmt.model_dir import ModelDir
    from nmt.plot import plot_training

    given = Path(args.model)
    log = given if given.is_file() else ModelDir(given).train_log
    train, valid = plot_training(log, args.output, args.title or str(given))
    print(f"{args.output}: {train} training and {valid} validation points")
    return 0


def _attention(args: argparse.Namespace) -> int:
    from nmt.plot import forced_attention, load_pyplot, plot_attention, searched_attention
    from nmt.translator import Translator

    if not args.src.strip():
        raise NMTError("--src is empty")
    load_pyplot()  # without matplotlib, say so before the model takes seconds to load
    translator = Translator.from_pretrained(**load_arguments(args))
    if args.tgt is None:
        alignment, how = searched_attention(translator, args.src, args.beam_size), "searched"
    else:
        alignment, how = forced_attention(translator, args.src, args.tgt), "forced"
    plot_attention(alignment, args.output, f"{how} translation, score {alignment.score:.2f}")
    rows, columns = len(alignment.tgt_pieces), len(alignment.src_pieces)
    print(f"{args.output}: {rows} x {columns} attention")
    return 0


COMMANDS.append(
    (
        "plot",
        "Draw a model's training curves or its attention over a sentence pair (PNG).",
        _add_plot,
        _run_plot,
    )
)
