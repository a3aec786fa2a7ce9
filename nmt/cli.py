"""`nmt <command>`: thin wrappers over the library. Each command is an ``_add_<name>`` function that
declares its arguments and a ``_run_<name>`` function that calls into the package."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Iterator

from nmt.config import TRANSLATION_PRECISIONS
from nmt.errors import NMTError

Runner = Callable[[argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error it expects, and any OSError (a full disk, a permission), is a
    one-line ``nmt COMMAND: error: ...`` on stderr and exit status 2, never a traceback."""
    parser = argparse.ArgumentParser(
        prog="nmt", description="Recurrent neural machine translation: train, translate, evaluate."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, add, run in _COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text)
        add(command)
        command.set_defaults(run=run)
    args = parser.parse_args(argv)
    prefix = f"nmt {args.command}"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(prefix)
            status = args.run(args) or 0
        sys.stdout.flush()  # a full disk or closed pipe behind stdout shows here, not at exit
        return status
    except NMTError as error:
        message = str(error)
    except OSError as error:  # e.g. a checkpoint written into a full model directory
        what = error.strerror or str(error)
        names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name)
        message = f"{names}: {what}" if names else what
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    print(f"{prefix}: error: {message}", file=sys.stderr)
    try:
        sys.stdout.flush()
    except OSError:  # stdout itself failed: what it still holds can never be written
        _drop_stdout()
    return 2


def _one_line_warnings(prefix: str) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints ``PREFIX: warning: MESSAGE``, without the source
    line that Python's format adds: the user did not write that code."""

    def show(message: Warning | str, *args: object, **kwargs: object) -> None:
        print(f"{prefix}: warning: {message}", file=sys.stderr)

    return show


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush has nowhere to fail."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _add_overrides(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set SECTION.KEY=VALUE`` (repeatable), collected in ``args.overrides``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override one config value, e.g. --set {example} (repeatable)",
    )


# ---- commands (each section is owned by the module it wraps) ------------------------------------


_COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Runner]] = []


# ---- evaluate: nmt.evaluation, and nmt.translator with -m ----------------------------------------


def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--hyp", metavar="FILE", help="system output to score, one segment a line")
    what.add_argument(
        "-m", "--model", metavar="MODEL_DIR", help="translate --src with this model, then score it"
    )
    parser.add_argument(
        "--ref",
        metavar="FILE",
        action="append",
        required=True,
        help="reference translation, line-aligned with the output; repeat for several references",
    )
    parser.add_argument(
        "--metrics",
        default="bleu,chrf,ter",
        help="comma-separated, from bleu, chrf, chrf++, ter (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--width", type=int, default=1, help="decimals printed, as sacrebleu -w (default: 1)"
    )
    paired = parser.add_argument_group("significance test")
    paired.add_argument(
        "--baseline",
        metavar="FILE",
        help="another system's output: add sacrebleu's paired bootstrap test against it",
    )
    paired.add_argument(
        "--bootstrap-samples",
        type=int,
        default=1000,
        metavar="N",
        help="resamples of the paired test (default: %(default)s)",
    )
    paired.add_argument(
        "--seed",
        type=int,
        default=12345,
        help="seed of the paired test (default: sacrebleu's, %(default)s)",
    )
    model = parser.add_argument_group("translating first (with -m)")
    model.add_argument("--src", metavar="FILE", help="source text to translate")
    model.add_argument("--beam-size", type=int, default=5, help="beam width (default: 5)")
    model.add_argument(
        "--batch-size", type=int, help="sentences a batch (default: the translator's)"
    )
    model.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    model.add_argument(
        "--precision",
        choices=TRANSLATION_PRECISIONS,
        default="fp32",
        help="int8: quantized weights, CPU only, 2-3x faster (default: fp32)",
    )


def _run_evaluate(args: argparse.Namespace) -> int:
    from nmt import evaluation

    if args.model is None and args.src is not None:
        raise NMTError("--src is only used with -m/--model; --hyp is already a translation")
    if args.model is not None and args.src is None:
        raise NMTError("-m/--model needs --src FILE, the source text to translate")
    metrics = [name.strip().lower() for name in args.metrics.split(",") if name.strip()]
    if not metrics:
        raise NMTError("--metrics is empty; name at least one of bleu, chrf, chrf++, ter")
    for name in metrics:
        evaluation.check_metric(name)

    references = [evaluation.read_text_file(path) for path in args.ref]
    baseline = None
    if args.baseline is not None:
        baseline = evaluation.read_text_file(args.baseline)
        evaluation.check_aligned(baseline, references, args.baseline, args.ref)
    if args.model is not None:
        # Checked against the references before decoding, so a mismatch costs no translation time.
        sources = evaluation.read_text_file(args.src)
        evaluation.check_aligned(sources, references, args.src, args.ref)
        hypotheses = _translate_for_evaluation(args, sources)
    else:
        hypotheses = evaluation.read_text_file(args.hyp)
        evaluation.check_aligned(hypotheses, references, args.hyp, args.ref)

    if baseline is None:
        scores = evaluation.compute_scores(hypotheses, references, metrics, width=args.width)
        _print_scores(scores, args.width, args.json)
    else:
        comparisons = evaluation.paired_significance(
            baseline, hypotheses, references, metrics, args.bootstrap_samples, args.seed
        )
        _print_comparisons(comparisons, args.width, args.json)
    return 0


def _translate_for_evaluation(args: argparse.Namespace, sources: list[str]) -> list[str]:
    """Imported here, not at the top, so that scoring a file never loads torch."""
    from nmt.translator import Translator

    translator = Translator.from_pretrained(
        args.model, device=args.device, precision=args.precision
    )
    options = {} if args.batch_size is None else {"batch_size": args.batch_size}
    return translator.translate(sources, beam_size=args.beam_size, **options)


def _print_scores(scores: list, width: int, as_json: bool) -> None:
    import dataclasses
    import json

    if as_json:
        print(json.dumps([dataclasses.asdict(s) for s in scores], indent=1, ensure_ascii=False))
        return
    rows = [(s.label, f"{s.score:.{width}f}", s.signature) for s in scores]
    _print_table(("metric", "score", "signature"), rows, right_aligned={1})


def _print_comparisons(comparisons: list, width: int, as_json: bool) -> None:
    import dataclasses
    import json

    if as_json:
        records = [
            {**dataclasses.asdict(c), "difference": c.difference, "significant": c.significant()}
            for c in comparisons
        ]
        print(json.dumps(records, indent=1, ensure_ascii=False))
        return
    header = (
        "metric",
        "baseline",
        "system",
        "delta",
        "p-value",
        "baseline 95% CI",
        "system 95% CI",
        "significant at 0.05",
    )
    rows = [
        (
            c.label,
            f"{c.baseline:.{width}f}",
            f"{c.system:.{width}f}",
            f"{c.difference:+.{width}f}",
            f"{c.p_value:.4f}",
            f"{c.baseline_mean:.{width}f} ± {c.baseline_ci:.{width}f}",
            f"{c.system_mean:.{width}f} ± {c.system_ci:.{width}f}",
            "yes" if c.significant() else "no",
        )
        for c in comparisons
    ]
    _print_table(header, rows, right_aligned={1, 2, 3, 4, 5, 6})
    print("\nsacrebleu paired bootstrap resampling; TER is an error rate, lower is better")
    for c in comparisons:
        print(f"{c.label}: {c.signature}")


def _print_table(
    header: tuple[str, ...], rows: list[tuple[str, ...]], right_aligned: set[int]
) -> None:
    """Columns padded to their widest cell, two spaces apart; numbers right-aligned."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = [
            cell.rjust(width) if i in right_aligned else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


_COMMANDS.append(
    (
        "evaluate",
        "Score translations with sacrebleu (BLEU, chrF, TER); optionally test against a baseline.",
        _add_evaluate,
        _run_evaluate,
    )
)


# ---- spm-train, prepare-data: nmt.tokenizer, nmt.data ---------------------------------------------


def _add_spm_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="CONFIG",
        help="YAML config: its tokenizer section, with data.train_src/train_tgt as input "
        "and training.model_dir as output unless given below",
    )
    parser.add_argument(
        "--src", nargs="+", metavar="FILE", help="source-language text, plain or gzipped"
    )
    parser.add_argument(
        "--tgt", nargs="+", metavar="FILE", help="target-language text, plain or gzipped"
    )
    parser.add_argument(
        "-o", "--output", metavar="DIR", help="where spm.model (or spm.src/tgt.model) goes"
    )
    parser.add_argument("--vocab-size", type=int, help="pieces per model (default 8000)")
    parser.add_argument("--model-type", choices=("unigram", "bpe"), help="default unigram")
    parser.add_argument(
        "--separate", action="store_true", help="one model per language instead of a joint one"
    )
    parser.add_argument(
        "--character-coverage", type=float, help="share of characters kept (default 1.0)"
    )
    parser.add_argument(
        "--user-defined-symbols", nargs="+", metavar="SYMBOL", help="pieces never split"
    )
    _add_overrides(parser, "tokenizer.vocab_size=16000")


def _run_spm_train(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from nmt.config import load_config
    from nmt.tokenizer import train_tokenizer

    config = load_config(args.config, args.overrides)
    changes = {
        "vocab_size": args.vocab_size,
        "model_type": args.model_type,
        "joint": False if args.separate else None,
        "character_coverage": args.character_coverage,
        "user_defined_symbols": args.user_defined_symbols,
    }
    tokenizer_config = dataclasses.replace(
        config.tokenizer, **{k: v for k, v in changes.items() if v is not None}
    )
    src = args.src or config.data.train_src
    tgt = args.tgt or config.data.train_tgt
    if not src or not tgt:
        raise NMTError("no training text: give --src and --tgt, or a config with data.train_src")
    output = args.output or (config.training.model_dir if args.config else None)
    if output is None:
        raise NMTError("no output directory: give -o DIR (or a config with training.model_dir)")
    start = time.perf_counter()
    tokenizer = train_tokenizer(tokenizer_config, src, tgt, output)
    if tokenizer.joint:
        what = f"joint model, {tokenizer.src_vocab_size} pieces"
    else:
        what = f"separate models, {tokenizer.src_vocab_size}/{tokenizer.tgt_vocab_size} pieces"
    print(
        f"{tokenizer_config.model_type} {what}, "
        f"written to {output} in {time.perf_counter() - start:.1f}s"
    )
    return 0


def _add_prepare_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="CONFIG", required=True, help="YAML config")
    parser.add_argument(
        "-t",
        "--tokenizer",
        metavar="DIR",
        help="directory with the SentencePiece model(s) (default: training.model_dir)",
    )
    parser.add_argument("--split", choices=("train", "dev"), default="train")
    _add_overrides(parser, "data.max_len=100")


def _run_prepare_data(args: argparse.Namespace) -> int:
    import time

    from nmt.config import load_config
    from nmt.data import prepare_dataset
    from nmt.tokenizer import Tokenizer

    config = load_config(args.config, args.overrides)
    tokenizer = Tokenizer.load(args.tokenizer or config.training.model_dir)
    start = time.perf_counter()
    dataset, report = prepare_dataset(config.data, tokenizer, args.split)
    print(f"{args.split}: {report}")
    print(f"{len(dataset):,} pairs ready in {time.perf_counter() - start:.1f}s")
    return 0


_COMMANDS.append(
    (
        "spm-train",
        "Train a SentencePiece tokenizer (joint or one per language) on parallel text.",
        _add_spm_train,
        _run_spm_train,
    )
)
_COMMANDS.append(
    (
        "prepare-data",
        "Tokenize and filter a corpus into the Arrow cache; print what each filter dropped.",
        _add_prepare_data,
        _run_prepare_data,
    )
)


# ---- nmt train -----------------------------------------------------------------------------------


def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config (see recipes/en_es/conf/ for examples)")
    _add_overrides(parser, "training.lr=5e-4")
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


_COMMANDS.append(
    (
        "train",
        "Train a model from a YAML config (also under torchrun, for several processes).",
        _add_train,
        _run_train,
    )
)


# ---- translate: nmt.translator, nmt.linestream ---------------------------------------------------

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
                    _drop_stdout()
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


_COMMANDS.append(
    (
        "translate",
        "Translate text with a trained model: a file or a pipe, one sentence a line.",
        _add_translate,
        _run_translate,
    )
)
