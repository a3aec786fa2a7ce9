#!/usr/bin/env python
"""Pick the beam search's length penalty (GNMT alpha) on held-out data, not on a test set.

    python tools/tune_length_penalty.py -m MODEL --checkpoint MODEL/averaged.pt \\
        --set news newstest2010.en newstest2010.es --set tatoeba dev.en dev.es \\
        --alphas 0.6 1.0 1.4 --max-lines 1000 --json tuning.json

Why: a model's output can be systematically short or long on some domains, and chrF (recall
weighted) and BLEU (brevity penalty) both punish short output. The model is loaded once and
each set is translated once per alpha; the table gives BLEU, chrF and the hypothesis/reference
length ratio, and the alpha with the best mean chrF + BLEU over the sets is marked (write it into
the config's ``decoding.length_penalty``). ``--betas`` also tries coverage penalties with each
alpha (``decoding.coverage_penalty``), ``--min-len-a`` output minimums (``decoding.min_len_a``);
every other search setting takes its ``nmt translate`` flag.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from nmt.cli.decoding_flags import add_decoding_flags, decoding_overrides
from nmt.cli.model_args import add_model_arguments, load_arguments
from nmt.errors import NMTError
from nmt.evaluation import compute_scores, read_text_file
from nmt.translator import Translator

TUNED = ("length_penalty", "coverage_penalty", "min_len_a")  # the grid's settings


def read_set(src: str, ref: str, skip: int, max_lines: int | None) -> tuple[list[str], list[str]]:
    """Lines ``skip`` .. ``skip + max_lines`` of an aligned source/reference pair."""
    sources, references = read_text_file(src), read_text_file(ref)
    if len(sources) != len(references):
        raise NMTError(f"{src} has {len(sources)} lines but {ref} has {len(references)}")
    stop = None if max_lines is None else skip + max_lines
    return sources[skip:stop], references[skip:stop]


def length_ratio(hypotheses: list[str], references: list[str]) -> float:
    """Whitespace tokens of the output over those of the reference (sacrebleu's ratio, roughly)."""
    reference_tokens = sum(len(line.split()) for line in references)
    return sum(len(line.split()) for line in hypotheses) / max(reference_tokens, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--set",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "SRC", "REF"),
        help="a held-out set: its name, source file and reference file (repeatable)",
    )
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.0, 0.6, 1.0, 1.4, 1.8])
    parser.add_argument(
        "--betas",
        nargs="+",
        type=float,
        help="coverage penalties to try with each alpha (default: the config's only)",
    )
    parser.add_argument(
        "--min-len-a",
        nargs="+",
        type=float,
        help="output minimums (A * source pieces) to try with each alpha (default: the config's)",
    )
    fixed = parser.add_argument_group("the other search settings (default: the config's)")
    add_decoding_flags(fixed, skip=TUNED)
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N lines of each")
    parser.add_argument("--max-lines", type=int, help="use at most N lines of each set")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)

    try:
        translator = Translator.from_pretrained(**load_arguments(args))
        sets = {name: read_set(src, ref, args.skip, args.max_lines) for name, src, ref in args.set}
    except NMTError as error:
        print(f"tune_length_penalty.py: {error}", file=sys.stderr)
        return 1

    betas = args.betas or [translator.config.decoding.coverage_penalty]
    minimums = args.min_len_a or [translator.config.decoding.min_len_a]
    settings = [(a, b, m) for a in args.alphas for b in betas for m in minimums]
    rows = []
    for alpha, beta, minimum in settings:
        for name, (sources, references) in sets.items():
            start = time.perf_counter()
            try:
                tuned = dict(length_penalty=alpha, coverage_penalty=beta, min_len_a=minimum)
                hypotheses = translator.translate(
                    sources, **decoding_overrides(args, TUNED), **tuned
                )
            except NMTError as error:
                print(f"tune_length_penalty.py: {error}", file=sys.stderr)
                return 1
            bleu, chrf = compute_scores(hypotheses, [references], metrics=("bleu", "chrf"))
            rows.append(
                {
                    "alpha": alpha,
                    "beta": beta,
                    "min_len_a": minimum,
                    "set": name,
                    "lines": len(sources),
                    "bleu": round(bleu.score, 2),
                    "chrf": round(chrf.score, 2),
                    "length_ratio": round(length_ratio(hypotheses, references), 3),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    def setting_of(row: dict) -> tuple[float, float, float]:
        return row["alpha"], row["beta"], row["min_len_a"]

    def mean_score(setting: tuple[float, float, float]) -> float:
        chosen = [r for r in rows if setting_of(r) == setting]
        return sum(r["bleu"] + r["chrf"] for r in chosen) / len(chosen)

    best = max(settings, key=mean_score)
    print("| alpha | coverage penalty | min_len_a | set | lines | BLEU | chrF | length ratio |")
    print("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        mark = " (best)" if setting_of(row) == best else ""
        print(
            f"| {row['alpha']:g}{mark} | {row['beta']:g} | {row['min_len_a']:g} | {row['set']} "
            f"| {row['lines']:,} | {row['bleu']:.2f} | {row['chrf']:.2f} "
            f"| {row['length_ratio']:.3f} |"
        )
    chosen = f"{best[0]:g}"
    if len(betas) > 1:
        chosen += f", coverage penalty {best[1]:g}"
    if len(minimums) > 1:
        chosen += f", min_len_a {best[2]:g}"
    print(f"\nbest length_penalty by mean BLEU + chrF: {chosen}")
    if args.json:
        result = {
            "best": best[0],
            "coverage_penalty": best[1],
            "min_len_a": best[2],
            "beam_size": args.beam_size or translator.config.decoding.beam_size,
            "rows": rows,
        }
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
