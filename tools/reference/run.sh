#!/usr/bin/env bash
# Train the reference model on Tatoeba, then measure training and decoding throughput.
#
#   tools/reference/run.sh                       # DATA_DIR=../shared/data/en-es, 2000 steps
#   STEPS=1000 PEERS_DATA=/tmp/peers_work/data tools/reference/run.sh   # docs/experiments/*-speed.md
#   STEPS=500 OUT=exp/ref-short tools/reference/run.sh
#   PEERS_DATA=/tmp/peers_work/data tools/reference/run.sh   # decode the peers' 500 test lines
#
# An existing $OUT/model/model.pt is reused as it is; RETRAIN=1 trains again, continuing from the
# newest checkpoint in $OUT/model/checkpoints when there is one (e.g. a run that was cut short).
#
# Results go to $OUT/bench_*.json; docs/results.md (today's figures) and
# docs/experiments/training-speed.md and decoding-speed.md (the runs) quote them with this command.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR="${DATA_DIR:-../shared/data/en-es}"
OUT="${OUT:-exp/reference}"
STEPS="${STEPS:-2000}"
THREADS="${THREADS:-2}"
PEERS_DATA="${PEERS_DATA:-}"
TRAIN_PRECISIONS="${TRAIN_PRECISIONS-fp32 bf16}"         # training benchmarks (empty: none)
TRANSLATE_PRECISIONS="${TRANSLATE_PRECISIONS-fp32 int8}"  # decoding benchmarks
TRANSLATE_ARGS="${TRANSLATE_ARGS:-}"  # more decoding flags for tools/benchmark.py translate, e.g. --shortlist
TRANSLATE_TAG="${TRANSLATE_TAG:-}"    # appended to the decoding JSON names, e.g. _shortlist
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS="$THREADS"
mkdir -p "$OUT"

if [ ! -f "$OUT/model/model.pt" ] || [ "${RETRAIN:-0}" = 1 ]; then
  resume=(); [ -d "$OUT/model/checkpoints" ] && resume=(--resume)
  nmt train tools/reference/reference.yaml "${resume[@]}" \
    --set "data.train_src=[$DATA_DIR/tatoeba/train.en.gz]" \
    --set "data.train_tgt=[$DATA_DIR/tatoeba/train.es.gz]" \
    --set "data.dev_src=$DATA_DIR/tatoeba/dev.en" --set "data.dev_tgt=$DATA_DIR/tatoeba/dev.es" \
    --set "training.model_dir=$OUT/model" --set "training.max_steps=$STEPS" \
    --set "training.threads=$THREADS" --set training.precision=bf16 2> "$OUT/train.stderr"
fi

for precision in $TRAIN_PRECISIONS; do
  for variant in input_feeding fused; do
    python tools/benchmark.py --json "$OUT/bench_train_${variant}_$precision.json" train \
      --src "$DATA_DIR/tatoeba/train.en.gz" --tgt "$DATA_DIR/tatoeba/train.es.gz" \
      --work "$OUT/model" --preset small --threads "$THREADS" --steps 10 --repeats 3 --warmup 3 \
      --set "model.decoder=$variant" --set "training.precision=$precision"
  done
done

if [ -n "$PEERS_DATA" ]; then
  test_src="$PEERS_DATA/test.raw.src"; test_ref="$PEERS_DATA/test.raw.tgt"
else
  test_src="$OUT/test500.en"; head -n 500 "$DATA_DIR/tatoeba/test.en" > "$test_src"
  test_ref="$OUT/test500.es"; head -n 500 "$DATA_DIR/tatoeba/test.es" > "$test_ref"
fi
for precision in $TRANSLATE_PRECISIONS; do
  # shellcheck disable=SC2086  # TRANSLATE_ARGS is a list of flags
  python tools/benchmark.py --json "$OUT/bench_translate_$precision$TRANSLATE_TAG.json" translate \
    -m "$OUT/model" --src "$test_src" --ref "$test_ref" --sentences 500 --batch-size 64 \
    --beam-sizes 1 5 --max-len 100 --length-penalty 1.0 --threads "$THREADS" \
    --precision "$precision" $TRANSLATE_ARGS
done
