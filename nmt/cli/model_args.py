"""The flags that choose and load a model (``-m``, ``--checkpoint``, ``--threads``, ``--device``,
``--precision``), shared by the commands that translate or score with one."""

from __future__ import annotations

import argparse
from typing import Any

from nmt.config import TRANSLATION_PRECISIONS


def add_model_arguments(parser: argparse._ActionsContainer, required: bool = True) -> None:
    """The flags above, on a parser or an argument group; ``required=False`` where ``-m`` is one
    of two ways to use a command (``nmt evaluate --hyp`` or ``-m``)."""
    parser.add_argument(
        "-m",
        "--model",
        required=required,
        action="append",
        metavar="MODEL_DIR",
        help="model directory written by `nmt train` (config.yaml, spm*.model, model.pt), or a "
        "Hugging Face Hub id; repeat for an ensemble of models with one vocabulary",
    )
    parser.add_argument(
        "--checkpoint",
        nargs="+",
        metavar="FILE",
        help="weights to use instead of MODEL_DIR/model.pt, e.g. MODEL_DIR/checkpoints/step_N.pt; "
        "several checkpoints of one model make an ensemble",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--precision",
        choices=TRANSLATION_PRECISIONS,
        default="fp32",
        help="int8: int8 weights on the CPU, 2-3x faster, results differ slightly (default: fp32)",
    )


def load_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``Translator.from_pretrained`` from the flags above (and
    ``--threads``, which each command declares with its own help)."""
    checkpoints = args.checkpoint or [None]
    return dict(
        model_dir=args.model if len(args.model) > 1 else args.model[0],
        checkpoint=checkpoints if len(checkpoints) > 1 else checkpoints[0],
        device=args.device,
        threads=args.threads,
        precision=args.precision,
    )
