#!/usr/bin/env bash
# The speed targets with a shortlist of 300 frequent pieces (the quality setting of sl_f300.sh):
# the reference model's shortlist rebuilt with --frequent 300, OpenNMT-py (1 repeat), then ours
# with --shortlist; alone on the machine.
set -euo pipefail
O=/work/exp/m29/timing4; mkdir -p $O
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nmt shortlist -m exp/reference/model --src ../shared/data/en-es/tatoeba/train.en.gz \
  --tgt ../shared/data/en-es/tatoeba/train.es.gz --frequent 300 --threads 2 > $O/shortlist.log 2>&1
(cd /work/shared/bench/peers && SKIP_SETUP=1 SKIP_DATA=1 PEERS=onmt REPEATS=1 ROOFLINE=0 THREADS=2 ./run_peers.sh) > $O/onmt.log 2>&1
cp /tmp/peers_work/results.json $O/onmt_results.json
env STEPS=1000 PEERS_DATA=/tmp/peers_work/data TRAIN_PRECISIONS=" " TRANSLATE_PRECISIONS="fp32 int8" TRANSLATE_ARGS="--shortlist" TRANSLATE_TAG=_shortlist tools/reference/run.sh > $O/ours_shortlist.log 2>&1
cp exp/reference/bench_translate_*_shortlist.json $O/
python tools/peers_ratio_table.py $O/onmt_results.json \
  "nmt fp32 + shortlist (300 frequent)=$O/bench_translate_fp32_shortlist.json" "nmt int8 + shortlist (300 frequent)=$O/bench_translate_int8_shortlist.json" \
  > $O/table.md 2>&1
echo timing4-done
