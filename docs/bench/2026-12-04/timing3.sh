#!/usr/bin/env bash
# after the search-step speed-ups (c7da16c): OpenNMT-py (2 repeats), then ours, alone on the
# machine; the reference model trained to its 1,000 steps (STEPS=1000, as run.sh intends)
set -euo pipefail
O=/work/exp/m29/timing3; mkdir -p $O
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
(cd /work/shared/bench/peers && SKIP_SETUP=1 SKIP_DATA=1 PEERS=onmt REPEATS=2 ROOFLINE=0 THREADS=2 ./run_peers.sh) > $O/onmt.log 2>&1
cp /tmp/peers_work/results.json $O/onmt_results.json
cp /tmp/peers_work/results.md $O/onmt_results.md
env STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS=" " TRANSLATE_PRECISIONS="fp32 int8" tools/reference/run.sh > $O/ours.log 2>&1
env STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS=" " TRANSLATE_PRECISIONS="fp32 int8" TRANSLATE_ARGS="--shortlist" TRANSLATE_TAG=_shortlist tools/reference/run.sh > $O/ours_shortlist.log 2>&1
cp exp/reference/bench_translate_*.json $O/
python tools/peers_ratio_table.py $O/onmt_results.json \
  "nmt fp32=$O/bench_translate_fp32.json" "nmt int8=$O/bench_translate_int8.json" \
  "nmt fp32 + shortlist=$O/bench_translate_fp32_shortlist.json" "nmt int8 + shortlist=$O/bench_translate_int8_shortlist.json" \
  > $O/table.md 2>&1
# the code before the speed-ups (c7da16c^, a worktree), same model and sentences, right after
mkdir -p $O/before
env PYTHONPATH=/work/wt-head STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS=" " TRANSLATE_PRECISIONS="fp32 int8" tools/reference/run.sh > $O/before/ours.log 2>&1
env PYTHONPATH=/work/wt-head STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS=" " TRANSLATE_PRECISIONS="fp32 int8" TRANSLATE_ARGS="--shortlist" TRANSLATE_TAG=_shortlist tools/reference/run.sh > $O/before/ours_shortlist.log 2>&1
cp exp/reference/bench_translate_*.json $O/before/
python tools/peers_ratio_table.py $O/onmt_results.json \
  "before fp32=$O/before/bench_translate_fp32.json" "before int8=$O/before/bench_translate_int8.json" \
  "before fp32 + shortlist=$O/before/bench_translate_fp32_shortlist.json" "before int8 + shortlist=$O/before/bench_translate_int8_shortlist.json" \
  > $O/before/table.md 2>&1
echo timing3-done
