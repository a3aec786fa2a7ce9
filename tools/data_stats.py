"""Measure the data pipeline on the shared English-Spanish training data.

Three steps, each run on its own so that ``/usr/bin/time -v`` sees one of them:

    tokenizer  train a joint SentencePiece model on tatoeba/train + newscommentary/train
    prepare    tokenize and filter both corpora together (datasets.map, Arrow cache)
    padding    share of padded source and target tokens in TokenBatchSampler's batches,
               per corpus

Wall time and the peak resident memory of this process and its worker processes are printed
with each result; run ``prepare`` twice with the same ``--cache`` to time a cache hit.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

from nmt.batching import TokenBatchSampler
from nmt.config import DataConfig, TokenizerConfig
from nmt.data import dataset_lengths, prepare_dataset
from nmt.tokenizer import Tokenizer, train_tokenizer

CORPORA = ("tatoeba", "newscommentary")


def _files(data_dir: Path, corpora: tuple[str, ...], lang: str) -> list[str]:
    return [str(data_dir / corpus / f"train.{lang}.gz") for corpus in corpora]


def _peak_memory() -> str:
    """Peak resident set size (ru_maxrss is in KiB on Linux) of this process and its children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"peak RSS {own:.0f} MiB (largest worker {children:.0f} MiB)"


def _tokenizer(args: argparse.Namespace) -> None:
    config = TokenizerConfig(vocab_size=args.vocab_size, model_type="unigram", joint=True)
    start = time.perf_counter()
    tokenizer = train_tokenizer(
        config,
        _files(args.data_dir, CORPORA, "en"),
        _files(args.data_dir, CORPORA, "es"),
        args.tokenizer,
    )
    print(
        f"tokenizer: joint unigram, {tokenizer.src_vocab_size} pieces, "
        f"{time.perf_counter() - start:.1f}s, {_peak_memory()}"
    )


def _prepare(args: argparse.Namespace) -> None:
    config = DataConfig(
        train_src=_files(args.data_dir, CORPORA, "en"),
        train_tgt=_files(args.data_dir, CORPORA, "es"),
        num_proc=args.num_proc,
        cache_dir=str(args.cache),
    )
    start = time.perf_counter()
    dataset, report = prepare_dataset(config, Tokenizer.load(args.tokenizer), "train")
    prepared = time.perf_counter() - start
    src_len, tgt_len = dataset_lengths(dataset)
    total = time.perf_counter() - start
    print(f"prepare: {report}")
    print(
        f"prepare: {prepared:.1f}s prepare_dataset, {total:.1f}s with dataset_lengths, "
        f"{int(src_len.sum()):,} source / {int(tgt_len.sum()):,} target pieces, {_peak_memory()}"
    )


def _padding(args: argparse.Namespace) -> None:
    tokenizer = Tokenizer.load(args.tokenizer)
    for corpus in CORPORA:
        config = DataConfig(
            train_src=_files(args.data_dir, (corpus,), "en"),
            train_tgt=_files(args.data_dir, (corpus,), "es"),
            num_proc=args.num_proc,
            cache_dir=str(args.cache),
        )
        dataset, report = prepare_dataset(config, tokenizer, "train")
        src, tgt = (lengths.astype(np.int64) for lengths in dataset_lengths(dataset))
        start = time.perf_counter()
        sampler = TokenBatchSampler(src, tgt, max_tokens=args.max_tokens, seed=1)
        batches = [np.asarray(batch) for batch in sampler]
        seconds = time.perf_counter() - start
        padded_src = sum(len(b) * src[b].max() for b in batches)
        padded_tgt = sum(len(b) * (tgt[b].max() + 1) for b in batches)  # + EOS / BOS
        src_pad = 100 * (1 - src.sum() / padded_src)
        tgt_pad = 100 * (1 - (tgt + 1).sum() / padded_tgt)
        print(
            f"padding {corpus}/train: {report.kept:,} pairs, {len(batches):,} batches of at most "
            f"{args.max_tokens} target tokens (mean {len(src) / len(batches):.1f} sentences), "
            f"source {src_pad:.2f}% padding, target {tgt_pad:.2f}% padding; "
            f"batching took {seconds:.2f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("tokenizer", "prepare", "padding"))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("NMT_DATA_DIR", "/work/shared/data/en-es")),
    )
    parser.add_argument(
        "--tokenizer", type=Path, default=Path("exp/data_stats/spm"), help="written by `tokenizer`"
    )
    parser.add_argument("--cache", type=Path, default=Path("exp/data_stats/cache"))
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=2000)
    args = parser.parse_args()
    {"tokenizer": _tokenizer, "prepare": _prepare, "padding": _padding}[args.step](args)


if __name__ == "__main__":
    main()
