#!/usr/bin/env python
"""The "Decoding speed against OpenNMT-py" table of docs/results.md from the run's JSON files.

usage: python tools/peers_ratio_table.py ONMT_RESULTS_JSON LABEL=BENCH_TRANSLATE_JSON [LABEL=...]
  e.g. python tools/peers_ratio_table.py /tmp/peers_work/results.json \
         "nmt fp32=exp/reference/bench_translate_fp32.json" "nmt int8=exp/reference/bench_translate_int8.json"

OpenNMT-py: peers.onmt.median.{greedy,beam5}_{out_tok_s,sents_per_s,mean_out_len,rss_mb} of the
harness's results.json (its out_tok_s counts one EOS per sentence; mean_out_len does not).
nmt: beam1 / beam5 .output_tok_s (median of 3 windows, EOS excluded), .sentences_s,
.mean_output_pieces, .per_window_output_tok_s, .bleu and top-level peak_rss_mb of
tools/benchmark.py's JSON.  x OpenNMT-py = nmt output_tok_s / OpenNMT-py out_tok_s.
"""

import json
import sys

onmt = json.load(open(sys.argv[1]))["peers"]["onmt"]["median"]
ours = [(a.split("=", 1)[0], json.load(open(a.split("=", 1)[1]))) for a in sys.argv[2:]]
print(
    "| system | search | sentences/s | mean output pieces | output tok/s (windows) | × OpenNMT-py "
    "| BLEU | peak RSS |"
)
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for mode, key, name in (("greedy", "beam1", "greedy"), ("beam5", "beam5", "beam 5")):
    base = onmt[f"{mode}_out_tok_s"]
    print(
        f"| OpenNMT-py 3.5.1 | {name} | {onmt[f'{mode}_sents_per_s']:.1f} | "
        f"{onmt[f'{mode}_mean_out_len']:.1f} | {base:,.0f} | 1.00 | | {onmt[f'{mode}_rss_mb']:,.0f} MB |"
    )
    for label, d in ours:
        r = d[key]
        windows = " / ".join(f"{w:,}" for w in r["per_window_output_tok_s"])
        bleu = f"{r['bleu']:.1f}" if "bleu" in r else ""
        print(
            f"| {label} | {name} | {r['sentences_s']:.1f} | {r['mean_output_pieces']:.1f} | "
            f"{r['output_tok_s']:,.0f} ({windows}) | {r['output_tok_s'] / base:.2f} | {bleu} | "
            f"{d['peak_rss_mb']:,.0f} MB |"
        )
foreign = [onmt.get(f"{m}_foreign_cpu") for m in ("greedy", "beam5")]
print(
    "\nother-process CPU share during OpenNMT-py's decoding (greedy, beam5): "
    + ", ".join("-" if f is None else f"{100 * f:.1f}%" for f in foreign)
)
