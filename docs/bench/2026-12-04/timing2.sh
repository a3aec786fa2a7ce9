#!/usr/bin/env bash
# after the int8 shortlist fix: the same run as timing.sh (OpenNMT-py, then ours), alone
set -euo pipefail
O=/work/exp/m29/timing2; mkdir -p $O
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
(cd /work/shared/bench/peers && SKIP_SETUP=1 SKIP_DATA=1 PEERS=onmt REPEATS=1 ROOFLINE=0 THREADS=2 ./run_peers.sh) > $O/onmt.log 2>&1
cp /tmp/peers_work/results.json $O/onmt_results.json
env STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS= TRANSLATE_PRECISIONS="fp32 int8" tools/reference/run.sh > $O/ours.log 2>&1
env STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS= TRANSLATE_PRECISIONS="fp32 int8" TRANSLATE_ARGS="--shortlist" TRANSLATE_TAG=_shortlist tools/reference/run.sh > $O/ours_shortlist.log 2>&1
cp exp/reference/bench_translate_*.json $O/
python tools/peers_ratio_table.py $O/onmt_results.json \
  "nmt fp32=$O/bench_translate_fp32.json" "nmt int8=$O/bench_translate_int8.json" \
  "nmt fp32 + shortlist=$O/bench_translate_fp32_shortlist.json" "nmt int8 + shortlist=$O/bench_translate_int8_shortlist.json" \
  > $O/table.md 2>&1
echo timing2-done
