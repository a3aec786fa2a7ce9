#!/usr/bin/env python
"""Throughput and memory of training steps and of translation, so every change can be measured.

    python tools/benchmark.py train --src train.en.gz --tgt train.es.gz --preset small
    python tools/benchmark.py translate -m MODEL_DIR --src test.en --sentences 500

Token counts follow the peers' harness (shared/bench/peers): source + target subword pieces, no
BOS/EOS. Each figure is the median over ``--repeats`` timed windows in one process, after warm-up
steps; peak memory is the process's maximum resident set size (whole process, all windows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from nmt.cli.decoding_flags import add_decoding_flags, decoding_overrides
from nmt.config import TRANSLATION_PRECISIONS

# decoding settings the translate benchmark sets itself; every other one is a flag of its own
BENCHMARK_DECODING = (
    "beam_size",
    "batch_size",
    "length_penalty",
    "max_len_a",
    "max_len_b",
    "n_best",
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def benchmark_train(args: argparse.Namespace) -> dict:
    from nmt.batching import TokenBatchSampler, collate
    from nmt.config import load_config
    from nmt.data import read_parallel
    from nmt.devices import autocast
    from nmt.model import build_model
    from nmt.tokenizer import Tokenizer, train_tokenizer
    from nmt.train import build_optimizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = load_config(
        None,
        [f"model.preset={args.preset}", f"tokenizer.vocab_size={args.vocab_size}", *args.overrides],
    )
    work = Path(args.work)
    if not (work / "spm.model").is_file():
        train_tokenizer(config.tokenizer, args.src, args.tgt, work)
    tokenizer = Tokenizer.load(work)
    src_lines, tgt_lines = read_parallel(args.src, args.tgt)
    if args.pairs:
        src_lines, tgt_lines = src_lines[: args.pairs], tgt_lines[: args.pairs]
    src_ids, tgt_ids = tokenizer.encode_src(src_lines), tokenizer.encode_tgt(tgt_lines)
    keep = [
        i
        for i in range(len(src_ids))
        if 0 < len(src_ids[i]) <= args.max_len and 0 < len(tgt_ids[i]) <= args.max_len
    ]
    src_ids, tgt_ids = [src_ids[i] for i in keep], [tgt_ids[i] for i in keep]
    sampler = TokenBatchSampler(
        [len(s) for s in src_ids], [len(t) for t in tgt_ids], args.max_tokens, seed=1
    )
    batches = []
    for indices in sampler:
        batches.append(collate([{"src_ids": src_ids[i], "tgt_ids": tgt_ids[i]} for i in indices]))
        if len(batches) == args.warmup + args.steps * args.repeats:
            break
    device = torch.device(args.device)
    batches = [batch.to(device) for batch in batches]
    model = build_model(config.model, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    model.to(device).train()
    optimizer = build_optimizer(model, config.training)

    def step(batch) -> None:
        with autocast(device, config.training.precision):
            loss, tokens, _ = model(
                batch.src,
                batch.src_lengths,
                batch.tgt_in,
                batch.tgt_out,
                batch.tgt_lengths,
                config.training.label_smoothing,
            )
        optimizer.zero_grad(set_to_none=True)
        (loss / tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.training.clip_norm)
        optimizer.step()

    for batch in batches[: args.warmup]:
        step(batch)
    windows = []
    for repeat in range(args.repeats):
        window = batches[
            args.warmup + repeat * args.steps : args.warmup + (repeat + 1) * args.steps
        ]
        start = time.perf_counter()
        for batch in window:
            step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        src_tokens = sum(int(b.src_lengths.sum()) for b in window)
        tgt_pieces = sum(int(b.tgt_lengths.sum()) - b.src.size(0) for b in window)  # minus EOS
        windows.append(
            {
                "seconds": seconds,
                "src_tgt_tok_s": (src_tokens + tgt_pieces) / seconds,
                "tgt_tok_s": tgt_pieces / seconds,
                "s_per_step": seconds / len(window),
                "sentences_per_batch": sum(b.src.size(0) for b in window) / len(window),
                "tgt_pieces_per_batch": tgt_pieces / len(window),
            }
        )
    return {
        "benchmark": "train",
        "preset": args.preset,
        "precision": config.training.precision,
        "overrides": args.overrides,
        "threads": args.threads,
        "max_tokens": args.max_tokens,
        "steps_per_window": args.steps,
        "parameters": sum(p.numel() for p in model.parameters()),
        **{key: statistics.median(w[key] for w in windows) for key in windows[0]},
        "per_window_src_tgt_tok_s": [round(w["src_tgt_tok_s"]) for w in windows],
        "device": str(device),
        "peak_rss_mb": peak_rss_mb(),
        **(
            {"peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20}
            if device.type == "cuda"
            else {}
        ),
    }


def benchmark_translate(args: argparse.Namespace) -> dict:
    from nmt.allocator import keep_freed_memory
    from nmt.textio import read_lines
    from nmt.translator import Translator

    keep_freed_memory()  # as `nmt translate` does
    translator = Translator.from_pretrained(
        args.model_dir, threads=args.threads, precision=args.precision
    )
    lines = read_lines(args.src)[: args.sentences]
    extra = {k: v for k, v in decoding_overrides(args).items() if k not in BENCHMARK_DECODING}
    references = read_lines(args.ref)[: args.sentences] if args.ref else None
    results = {}
    for beam in args.beam_sizes:
        translator.translate(
            lines[: args.batch_size], beam_size=beam, batch_size=args.batch_size, **extra
        )
        windows = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            outputs = translator.translate_hypotheses(
                lines,
                beam_size=beam,
                batch_size=args.batch_size,
                max_len_a=0.0,
                max_len_b=args.max_len,
                length_penalty=args.length_penalty,
                **extra,
            )
            seconds = time.perf_counter() - start
            output_tokens = sum(len(n_best[0].tokens) for n_best in outputs)
            windows.append(
                {
                    "seconds": seconds,
                    "sentences_s": len(lines) / seconds,
                    "output_tok_s": output_tokens / seconds,
                    "mean_output_pieces": output_tokens / len(lines),
                }
            )
        results[f"beam{beam}"] = {
            **{key: statistics.median(w[key] for w in windows) for key in windows[0]},
            "per_window_output_tok_s": [round(w["output_tok_s"]) for w in windows],
        }
        if references is not None:
            from nmt.evaluation import compute_scores

            best = [n_best[0].text for n_best in outputs]
            results[f"beam{beam}"]["bleu"] = compute_scores(best, [references], ["bleu"])[0].score
    return {
        "benchmark": "translate",
        "model_dir": str(args.model_dir),
        "sentences": len(lines),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "precision": args.precision,
        "decoding": extra,
        **results,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    train = sub.add_parser("train", help="training steps per second at a preset")
    train.add_argument("--src", nargs="+", required=True, help="source training file(s)")
    train.add_argument("--tgt", nargs="+", required=True, help="target training file(s)")
    train.add_argument("--work", default="exp/benchmark", help="where the SentencePiece model goes")
    train.add_argument("--preset", default="small")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="config override, e.g. model.decoder=fused",
    )
    train.add_argument("--vocab-size", type=int, default=8000)
    train.add_argument(
        "--max-tokens",
        type=int,
        default=2200,
        help="padded target tokens per batch (2200 gives about 2,000 target pieces "
        "on Tatoeba, the peers' batch)",
    )
    train.add_argument("--max-len", type=int, default=100)
    train.add_argument("--pairs", type=int, default=0, help="use only the first N pairs (0: all)")
    train.add_argument("--warmup", type=int, default=5)
    train.add_argument("--steps", type=int, default=20, help="steps per timed window")
    train.add_argument("--repeats", type=int, default=3)
    train.add_argument("--threads", type=int, default=2)
    train.add_argument("--device", default="cpu", help="cpu or cuda")
    translate = sub.add_parser("translate", help="decoding speed of a trained model")
    translate.add_argument("-m", "--model-dir", required=True)
    translate.add_argument("--src", required=True)
    translate.add_argument("--sentences", type=int, default=500)
    translate.add_argument("--batch-size", type=int, default=64)
    translate.add_argument("--beam-sizes", type=int, nargs="+", default=[1, 5])
    translate.add_argument("--max-len", type=int, default=100, help="at most this many pieces out")
    translate.add_argument("--length-penalty", type=float, default=1.0)
    translate.add_argument("--repeats", type=int, default=3)
    translate.add_argument("--threads", type=int, default=2)
    translate.add_argument("--precision", choices=TRANSLATION_PRECISIONS, default="fp32")
    translate.add_argument("--ref", help="references of --src: adds the BLEU of the outputs")
    add_decoding_flags(
        translate.add_argument_group("other decoding settings (default: the model's config.yaml)"),
        skip=BENCHMARK_DECODING,
    )
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = benchmark_train(args) if args.what == "train" else benchmark_translate(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
