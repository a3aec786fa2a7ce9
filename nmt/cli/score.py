"""`nmt score`: forced decoding of sentence pairs, one score a line (nmt.scoring)."""

from __future__ import annotations

import argparse

from nmt.cli.common import Command
from nmt.cli.model_args import add_model_arguments, load_arguments
from nmt.errors import NMTError

COMMANDS: list[Command] = []

_SCORE_EPILOG = """\
output:
  one line per pair: the log-probability of the target given the source (natural log, EOS
  included), or with --normalize its mean per target piece. --word-scores appends " ||| " and
  the log-probability of each target piece, EOS last. A pair of empty lines scores 0; a pair with
  one side empty scores -inf. Use it to filter a noisy corpus (keep pairs above a threshold of
  the normalized score) or to rerank candidates.
"""


def _add_score(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _SCORE_EPILOG
    add_model_arguments(parser)
    parser.add_argument("--src", required=True, metavar="FILE", help="source sentences")
    parser.add_argument(
        "--tgt", required=True, metavar="FILE", help="their translations, line for line"
    )
    parser.add_argument(
        "-o", "--output", default="-", metavar="FILE", help="scores (default: - = stdout)"
    )
    parser.add_argument(
        "--normalize", action="store_true", help="mean log-probability per target piece"
    )
    parser.add_argument(
        "--word-scores", action="store_true", help="append each target piece's log-probability"
    )
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="pairs per batch")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")


def _run_score(args: argparse.Namespace) -> int:
    import sys

    from nmt.allocator import keep_freed_memory
    from nmt.linestream import atomic_output
    from nmt.scoring import score_pairs
    from nmt.textio import read_lines
    from nmt.translator import Translator

    if args.batch_size < 1:
        raise NMTError(f"--batch-size must be at least 1, got {args.batch_size}")
    sources, targets = read_lines(args.src), read_lines(args.tgt)
    if len(sources) != len(targets):
        raise NMTError(
            f"{args.src} has {len(sources)} lines but {args.tgt} has {len(targets)}: the files "
            "must be line-aligned"
        )
    keep_freed_memory()
    translator = Translator.from_pretrained(**load_arguments(args))
    scores = score_pairs(translator, sources, targets, args.batch_size)
    lines = []
    for score in scores:
        line = f"{score.mean if args.normalize else score.total:.6f}"
        if args.word_scores:
            line += " ||| " + " ".join(f"{value:.6f}" for value in score.token_log_probs)
        lines.append(line + "\n")
    output = "".join(lines).encode("utf-8")
    if args.output == "-":
        sys.stdout.buffer.write(output)
    else:
        with atomic_output(args.output) as sink:
            sink.write(output)
    return 0


COMMANDS.append(
    (
        "score",
        "Score sentence pairs with a model: the log-probability of each translation.",
        _add_score,
        _run_score,
    )
)
