"""`nmt shortlist`: build MODEL_DIR/shortlist.pt from a parallel corpus (nmt.shortlist)."""

from __future__ import annotations

import argparse

from nmt.cli.common import Command
from nmt.errors import NMTError

COMMANDS: list[Command] = []


def _add_shortlist(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", required=True, metavar="MODEL_DIR")
    parser.add_argument(
        "--src",
        nargs="+",
        metavar="FILE",
        help="source side of the corpus (default: the model's data.train_src)",
    )
    parser.add_argument(
        "--tgt", nargs="+", metavar="FILE", help="target side (default: data.train_tgt)"
    )
    parser.add_argument(
        "--method",
        choices=("cooccurrence", "alignment"),
        default="cooccurrence",
        help="cooccurrence: pieces found in the same pairs; alignment: the model's own attention "
        "under forced decoding (slower: a forward pass per pair) (default: cooccurrence)",
    )
    parser.add_argument(
        "--max-pairs",
        type=int,
        default=200_000,
        metavar="N",
        help="count N pairs drawn at random from the corpus (default: 200000)",
    )
    parser.add_argument(
        "--per-source",
        type=int,
        default=50,
        metavar="N",
        help="target pieces kept for each source piece (default: 50)",
    )
    parser.add_argument(
        "--frequent",
        type=int,
        default=300,
        metavar="K",
        # 100 cost int8 beam search 0.32 BLEU on newstest2012 and greedy 0.5 on tatoeba; 300
        # stays within 0.1 on both (docs/experiments/decoding-2026-12-04.md, "Shortlist size")
        help="the K most frequent target pieces, in every batch's list (default: 300)",
    )
    parser.add_argument("--seed", type=int, default=1, help="of the pair sample (default: 1)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")


def _run_shortlist(args: argparse.Namespace) -> int:
    import random

    from nmt.constants import SHORTLIST_FILE
    from nmt.scoring import alignment_counts
    from nmt.shortlist import build_shortlist, cooccurrence_counts
    from nmt.textio import read_lines
    from nmt.translator import Translator

    for name in ("max_pairs", "per_source", "frequent"):
        if getattr(args, name) < 1:
            raise NMTError(f"--{name.replace('_', '-')} must be at least 1")
    translator = Translator.from_pretrained(args.model, threads=args.threads)
    src_files = args.src or translator.config.data.train_src
    tgt_files = args.tgt or translator.config.data.train_tgt
    if not src_files or len(src_files) != len(tgt_files):
        raise NMTError("give the corpus as --src FILE... --tgt FILE..., as many of each")
    sources, targets = [], []
    for src_file, tgt_file in zip(src_files, tgt_files, strict=True):
        src_lines, tgt_lines = read_lines(src_file), read_lines(tgt_file)
        if len(src_lines) != len(tgt_lines):
            raise NMTError(f"{src_file} and {tgt_file} have different numbers of lines")
        sources += src_lines
        targets += tgt_lines
    chosen = range(len(sources))
    if len(sources) > args.max_pairs:
        chosen = sorted(random.Random(args.seed).sample(chosen, args.max_pairs))
    tokenizer = translator.tokenizer
    src_ids = tokenizer.encode_src([sources[i] for i in chosen])
    tgt_ids = tokenizer.encode_tgt([targets[i] for i in chosen])
    pairs = [(s, t) for s, t in zip(src_ids, tgt_ids, strict=True) if s and t]
    if not pairs:
        raise NMTError(f"{', '.join(src_files)}: no sentence pair to count")
    vocab = (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    if args.method == "alignment":
        counts, frequency = alignment_counts(translator.model, pairs, *vocab)
    else:
        counts, frequency = cooccurrence_counts(pairs, *vocab)
    shortlist = build_shortlist(counts, frequency, args.per_source, args.frequent, args.method)
    path = translator.shortlist_origin or f"{args.model}/{SHORTLIST_FILE}"
    shortlist.save(path)
    kept = int((shortlist.candidates >= 0).sum(1).float().mean())
    print(
        f"{path}: {args.method} over {len(pairs):,} pairs; {len(shortlist.frequent)} frequent "
        f"target pieces and on average {kept} per source piece"
    )
    return 0


COMMANDS.append(
    (
        "shortlist",
        "Build a model's lexical shortlist, for faster translation with --shortlist.",
        _add_shortlist,
        _run_shortlist,
    )
)
