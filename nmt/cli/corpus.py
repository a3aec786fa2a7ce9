"""`nmt spm-train` and `nmt prepare-data`: SentencePiece models (nmt.tokenizer) and the tokenized
training cache (nmt.data) made ahead of training."""

from __future__ import annotations

import argparse

from nmt.cli.common import Command, add_overrides
from nmt.errors import NMTError

COMMANDS: list[Command] = []


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
    add_overrides(parser, "tokenizer.vocab_size=16000")


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
    add_overrides(parser, "data.max_len=100")


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


COMMANDS.append(
    (
        "spm-train",
        "Train a SentencePiece tokenizer (joint or one per language) on parallel text.",
        _add_spm_train,
        _run_spm_train,
    )
)
COMMANDS.append(
    (
        "prepare-data",
        "Tokenize and filter a corpus into the Arrow cache; print what each filter dropped.",
        _add_prepare_data,
        _run_prepare_data,
    )
)
