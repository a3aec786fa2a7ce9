"""`nmt translate`: files or pipes through the translator, line for line (nmt.translator,
nmt.textio, nmt.linestream)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from nmt.cli.common import Command, drop_stdout
from nmt.config import TRANSLATION_PRECISIONS
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
    parser.add_argument(
        "-m",
        "--model",
        required=True,
        metavar="MODEL_DIR",
        help="model directory written by `nmt train` (config.yaml, spm*.model, model.pt)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="weights to use instead of MODEL_DIR/model.pt, e.g. MODEL_DIR/checkpoints/step_N.pt",
    )
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
    search.add_argument("--beam-size", type=int, metavar="K", help="beam width; 1 = greedy")
    search.add_argument("--batch-size", type=int, metavar="N", help="sentences per batch")
    search.add_argument(
        "--max-len-a", type=float, metavar="A", help="output limit: A * source pieces + B"
    )
    search.add_argument("--max-len-b", type=int, metavar="B", help="see --max-len-a")
    search.add_argument(
        "--min-len-a",
        type=float,
        metavar="A",
        help="output minimum: A * source pieces (EOS is blocked before); 0 disables",
    )
    search.add_argument(
        "--length-penalty", type=float, metavar="ALPHA", help="GNMT length penalty; 0 disables"
    )
    search.add_argument(
        "--split-sentences",
        action=argparse.BooleanOptionalAction,
        help="translate each sentence of a multi-sentence line on its own",
    )
    search.add_argument(
        "--no-repeat-ngram",
        type=int,
        metavar="N",
        help="never repeat an N-gram of target pieces (N >= 2; 0 allows repeats)",
    )
    search.add_argument(
        "--coverage-penalty",
        type=float,
        metavar="BETA",
        help="GNMT coverage penalty for beam search: rank down translations that left source "
        "pieces unattended; 0 disables",
    )
    search.add_argument(
        "--mbr",
        action=argparse.BooleanOptionalAction,
        help="minimum Bayes risk: of the beam's candidates keep the one with the best expected "
        "chrF against the others (slower output; needs --beam-size > 1)",
    )
    search.add_argument(
        "--mbr-samples",
        type=int,
        metavar="N",
        help="with --mbr: N translations sampled from the model (epsilon sampling) are the "
        "pseudo-references, and candidates beside the beam's; 0: the beam's candidates",
    )
    output = parser.add_argument_group("output format (see below)")
    output.add_argument(
        "--n-best", type=int, metavar="N", help="write the N best translations of each line"
    )
    output.add_argument(
        "--alignments", action="store_true", help="append source-target piece alignments"
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--precision",
        choices=TRANSLATION_PRECISIONS,
        default="fp32",
        help="int8: int8 weights on the CPU, 2-3x faster, translations differ slightly "
        "(default: fp32)",
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
    from pathlib import Path

    from tqdm import tqdm

    from nmt.linestream import atomic_output
    from nmt.textio import count_lines, open_input, read_line_chunks
    from nmt.translator import Translator

    from_file, to_file = args.input != "-", args.output != "-"
    if from_file and to_file and Path(args.input).resolve() == Path(args.output).resolve():
        raise NMTError(f"{args.output}: the output file would overwrite the input")
    options = dict(
        beam_size=args.beam_size,
        batch_size=args.batch_size,
        max_len_a=args.max_len_a,
        max_len_b=args.max_len_b,
        min_len_a=args.min_len_a,
        length_penalty=args.length_penalty,
        n_best=args.n_best or 1,
        split_sentences=args.split_sentences,
        no_repeat_ngram=args.no_repeat_ngram,
        coverage_penalty=args.coverage_penalty,
        mbr=args.mbr,
        mbr_samples=args.mbr_samples,
    )
    with contextlib.ExitStack() as stack:
        # the input first: a missing file is reported before the model takes seconds to load
        source = stack.enter_context(open_input(args.input)) if from_file else sys.stdin.buffer
        translator = Translator.from_pretrained(
            args.model, args.checkpoint, args.device, args.threads, args.precision
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
        index = 0
        name = args.input if from_file else "<stdin>"
        for lines in _input_chunks(read_line_chunks(source, name, args.on_invalid_utf8)):
            results = translator.translate_hypotheses(lines, progress=bar.update, **options)
            output = _format_translations(results, index, args.n_best is not None, args.alignments)
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
            index += len(lines)
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


def _format_translations(results: list, first_index: int, n_best: bool, alignments: bool) -> bytes:
    """Output lines for ``results`` (n-best lists of Translation), UTF-8 with LF endings."""
    out = []
    for offset, translations in enumerate(results):
        for translation in translations if n_best else translations[:1]:
            # byte-fallback pieces can decode to line breaks, which would shift every later line
            fields = [translation.text.replace("\r", " ").replace("\n", " ")]
            if n_best:
                fields = [str(first_index + offset), *fields, f"{translation.score:.4f}"]
            if alignments:
                fields.append(" ".join(f"{s}-{t}" for s, t in translation.alignment))
            out.append(" ||| ".join(fields) + "\n")
    return "".join(out).encode("utf-8")


COMMANDS.append(
    (
        "translate",
        "Translate text with a trained model: a file or a pipe, one sentence a line.",
        _add_translate,
        _run_translate,
    )
)
