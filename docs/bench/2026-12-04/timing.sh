#!/usr/bin/env bash
# Issue 29 speed measurements, alone on the machine: OpenNMT-py through the peers' harness, then
# ours on the same 500 tatoeba/test lines and reference model (fp32/int8, with and without a
# shortlist), then --workers on tatoeba/test with the base en-es model.
set -euo pipefail
O=/work/exp/m29; mkdir -p $O/timing
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
R="STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS= "
[ -s exp/reference/model/shortlist.pt ] || nmt shortlist -m exp/reference/model \
  --src ../shared/data/en-es/tatoeba/train.en.gz --tgt ../shared/data/en-es/tatoeba/train.es.gz --threads 2
env STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS= TRANSLATE_PRECISIONS="fp32 int8" tools/reference/run.sh > $O/timing/ours_before.log 2>&1
cp exp/reference/bench_translate_fp32.json $O/timing/ours_fp32_before.json; cp exp/reference/bench_translate_int8.json $O/timing/ours_int8_before.json
(cd /work/shared/bench/peers && SKIP_SETUP=1 SKIP_DATA=1 PEERS=onmt REPEATS=1 ROOFLINE=0 THREADS=2 ./run_peers.sh) > $O/timing/onmt.log 2>&1
cp /tmp/peers_work/results.json $O/timing/onmt_results.json; cp /tmp/peers_work/results.md $O/timing/onmt_results.md
env STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS= TRANSLATE_PRECISIONS="fp32 int8" tools/reference/run.sh > $O/timing/ours.log 2>&1
env STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS= TRANSLATE_PRECISIONS="fp32 int8" TRANSLATE_ARGS="--shortlist" TRANSLATE_TAG=_shortlist tools/reference/run.sh > $O/timing/ours_shortlist.log 2>&1
cp exp/reference/bench_translate_*.json $O/timing/
python /work/notes/peers_ratio_table.py $O/timing/onmt_results.json \
  "nmt fp32=$O/timing/bench_translate_fp32.json" "nmt int8=$O/timing/bench_translate_int8.json" \
  "nmt fp32 + shortlist=$O/timing/bench_translate_fp32_shortlist.json" "nmt int8 + shortlist=$O/timing/bench_translate_int8_shortlist.json" \
  > $O/timing/table.md 2>&1 || true
echo timing-peers-done
