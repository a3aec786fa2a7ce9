"""`nmt evaluate`: sacrebleu scores of a file (nmt.evaluation), or of a model's translation of a
source (nmt.translator), and paired significance against a baseline."""

from __future__ import annotations

import argparse

from nmt.cli.common import Command
from nmt.cli.decoding_flags import add_decoding_flags, checked_settings, decoding_overrides
from nmt.cli.model_args import add_model_arguments, load_arguments
from nmt.errors import NMTError

COMMANDS: list[Command] = []


def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hyp", metavar="FILE", help="system output to score, one segment a line (or -m)"
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
        dest="bootstrap_seed",  # not decoding.seed, which sampling uses
        type=int,
        metavar="N",
        default=12345,
        help="seed of the paired test (default: sacrebleu's, %(default)s)",
    )
    model = parser.add_argument_group("translating first (-m instead of --hyp): the model")
    add_model_arguments(model, required=False)
    model.add_argument("--src", metavar="FILE", help="source text to translate")
    model.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    search = parser.add_argument_group(
        "search (with -m; defaults: the decoding section of config.yaml)"
    )
    # n_best: one translation a line is scored; seed: the significance test's --seed above
    add_decoding_flags(search, skip=("n_best", "seed"))


def _run_evaluate(args: argparse.Namespace) -> int:
    from nmt import evaluation

    if (args.hyp is None) == (args.model is None):
        raise NMTError(
            "give either --hyp FILE (translations to score) or -m MODEL_DIR with --src FILE "
            "(a model to translate with first)"
        )
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
    elif decoding_overrides(args):
        raise NMTError("search flags (such as --beam-size) are for -m; --hyp is already translated")
    else:
        hypotheses = evaluation.read_text_file(args.hyp)
        evaluation.check_aligned(hypotheses, references, args.hyp, args.ref)

    if baseline is None:
        scores = evaluation.compute_scores(hypotheses, references, metrics, width=args.width)
        _print_scores(scores, args.width, args.json)
    else:
        comparisons = evaluation.paired_significance(
            baseline, hypotheses, references, metrics, args.bootstrap_samples, args.bootstrap_seed
        )
        _print_comparisons(comparisons, args.width, args.json)
    return 0


def _translate_for_evaluation(args: argparse.Namespace, sources: list[str]) -> list[str]:
    """With the model's own decoding settings, but for the search flags given. Imported here,
    not at the top, so that scoring a file never loads torch."""
    from nmt.allocator import keep_freed_memory
    from nmt.config import load_config
    from nmt.constants import CONFIG_FILE
    from nmt.hub import resolve_model_dir
    from nmt.translator import Translator

    overrides = decoding_overrides(args)
    # checked against the (first) model's settings before any model loads; errors name the flag
    checked_settings(
        load_config(resolve_model_dir(args.model[0]) / CONFIG_FILE).decoding, overrides
    )
    keep_freed_memory()
    translator = Translator.from_pretrained(**load_arguments(args))
    return translator.translate(sources, **overrides)


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


COMMANDS.append(
    (
        "evaluate",
        "Score translations with sacrebleu (BLEU, chrF, TER); optionally test against a baseline.",
        _add_evaluate,
        _run_evaluate,
    )
)
