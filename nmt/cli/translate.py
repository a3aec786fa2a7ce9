"""`nmt translate`: files or pipes through the translator, line for line (nmt.translator,
nmt.textio, nmt.linestream)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from nmt.cli.common import Command, drop_stdout
from nmt.cli.decoding_flags import add_decoding_flags, checked_settings, decoding_overrides
from nmt.cli.model_args import add_model_arguments, load_arguments
from nmt.errors import NMTError

COMMANDS: list[Command] = []


_TRANSLATE_EPILOG = """\
input and output:
  UTF-8 text, one sentence a line; output line N is the translation of input line N, and an
  empty or whitespace-only line gives an empty line. CRLF line endings and a leading byte-order
  mark are accepted; the output has LF endings and no BOM. From a pipe (stdin, a FIFO, <(cmd)),
  lines are translated as they arrive (at most 2000 at a time); on stdout each chunk of output is
  flushed at once. -o FILE is written to a hidden temporary file beside it, which replaces FILE
  only once every line is translated: a failed or interrupted run leaves FILE as it was.

long lines:
  a line longer than the model's limit (data.max_len source pieces in its config.yaml) is
  translated in full, never truncated: it is split into chunks after sentence punctuation (else
  after , ; : or between words), and the chunks' translations are joined with a space.

--n-best N:
  N lines per input line, best first, Moses style: "i ||| translation ||| score", i counting input
  lines from 0, score = log-probability / GNMT length penalty. There are fewer than N when fewer
  hypotheses exist (an empty line has one, with score 0). A line the model finds no translation
  of finite score for (NaN weights after diverged training) gets its partial output, score -inf,
  and a warning.

--alignments:
  append " ||| " and Pharaoh pairs "s-t" to each line: for each target piece t, the source piece s
  it attended to most (SentencePiece pieces of the stripped line, both counted from 0).
"""


def _add_translate(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _TRANSLATE_EPILOG
    add_model_arguments(parser)
    parser.add_argument(
        "-i",
        "--input",
        default="-",
        metavar="FILE",
        help="text to translate: a file, a FIFO or <(cmd) (default: - = stdin)",
    )
    parser.add_argument(
        "-o", "--output", default="-", metavar="FILE", help="translations (default: - = stdout)"
    )
    search = parser.add_argument_group("search (defaults: the decoding section of config.yaml)")
    add_decoding_flags(search, skip=("n_best",))
    output = parser.add_argument_group("output format (see below)")
    output.add_argument(
        "--n-best",
        type=int,
        metavar="N",
        help="write the N best translations of each line (with --sampling: N samples)",
    )
    output.add_argument(
        "--alignments", action="store_true", help="append source-target piece alignments"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch, per worker (default: torch's; with --workers, the cores "
        "shared out)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="translate in N processes, each a share of the input's chunks of lines, written "
        "back in order (the same output as one process; for machines with more cores than one "
        "process uses well)",
    )
    parser.add_argument(
        "--on-invalid-utf8",
        choices=("error", "replace"),
        default="error",
        help="invalid UTF-8 input stops with an error naming the line (default), or is "
        "replaced by U+FFFD",
    )


def _run_translate(args: argparse.Namespace) -> int:
    import contextlib
    import os
    from pathlib import Path

    from tqdm import tqdm

    from nmt.config import load_config
    from nmt.constants import CONFIG_FILE
    from nmt.hub import resolve_model_dir
    from nmt.linestream import atomic_output
    from nmt.parallel import ChunkTranslator, TranslationPool
    from nmt.textio import count_lines, open_input, read_line_chunks

    from_file, to_file = args.input != "-", args.output != "-"
    if from_file and to_file and Path(args.input).resolve() == Path(args.output).resolve():
        raise NMTError(f"{args.output}: the output file would overwrite the input")
    if args.workers < 1:
        raise NMTError(f"--workers must be at least 1, got {args.workers}")
    overrides = decoding_overrides(args)
    overrides["n_best"] = args.n_best or 1
    load = load_arguments(args)
    output_format = dict(n_best=args.n_best is not None, alignments=args.alignments)
    with contextlib.ExitStack() as stack:
        # the input first: a missing file is reported before the model takes seconds to load
        source = stack.enter_context(open_input(args.input)) if from_file else sys.stdin.buffer
        # the settings are checked against the (first) model's defaults before any model loads
        model_dir = resolve_model_dir(args.model[0])
        checked_settings(load_config(model_dir / CONFIG_FILE).decoding, overrides)
        translator: ChunkTranslator | TranslationPool
        if args.workers == 1:
            # imported here: with --workers only the workers import torch, so they start sooner
            from nmt.allocator import keep_freed_memory

            keep_freed_memory()  # before torch allocates anything
            from nmt.translator import Translator

            model = Translator.from_pretrained(**load)
            translator = ChunkTranslator(model, overrides, **output_format)
        else:
            if args.threads is None:
                load["threads"] = max(1, (os.cpu_count() or 1) // args.workers)
            translator = stack.enter_context(
                TranslationPool(args.workers, load, overrides, output_format)
            )
        # a file is replaced only when every line is translated; stdout streams as it goes
        sink = stack.enter_context(atomic_output(args.output)) if to_file else sys.stdout.buffer
        total = count_lines(args.input) if from_file else None  # None: a pipe, not counted
        # the bar goes to stderr, and only when a count is known, on a terminal
        bar = stack.enter_context(
            tqdm(
                total=total,
                unit=" lines",
                file=sys.stderr,
                disable=None if total is not None else True,
            )
        )
        name = args.input if from_file else "<stdin>"
        chunks = _input_chunks(read_line_chunks(source, name, args.on_invalid_utf8))
        for output in translator.chunks(chunks, progress=bar.update):
            try:
                sink.write(output)
                sink.flush()
            except OSError as error:
                if isinstance(error, BrokenPipeError) and not to_file:
                    # the reader left (`| head`): stop quietly, and keep Python from flushing
                    # into the pipe at exit
                    drop_stdout()
                    return 0
                where = args.output if to_file else "<stdout>"
                raise NMTError(f"{where}: cannot write: {error.strerror}") from None
    return 0


def _input_chunks(chunks: Iterator[list[str]]) -> Iterator[list[str]]:
    """``chunks``, with the way round invalid UTF-8 added to its error."""
    from nmt.textio import TextError

    try:
        yield from chunks
    except TextError as error:
        if "invalid UTF-8" not in str(error):
            raise
        raise NMTError(
            f"{error}, or pass --on-invalid-utf8 replace to translate it with U+FFFD in place of "
            "bad bytes"
        ) from None


COMMANDS.append(
    (
        "translate",
        "Translate text with a trained model: a file or a pipe, one sentence a line.",
        _add_translate,
        _run_translate,
    )
)
