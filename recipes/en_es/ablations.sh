#!/usr/bin/env bash
# Ablations of the CPU recipe: short trainings that differ from a reference configuration in one
# setting each, all with the same time budget, compared by validation BLEU at the end (BLEU per
# CPU hour). These are the measurements that picked the CPU config's model size, vocabulary,
# decoder variant, batch size, dropout and learning rate; recipes/en_es/README.md quotes their
# table. The reference ("baseline") is conf/cpu.yaml as it was before them: learning rate 1e-3,
# input feeding, the plateau schedule and dropout 0.2 (REFERENCE below); their winner, lr 2e-3
# with the fused decoder, is conf/cpu.yaml now (with a decaying lr, measured at full length).
#
#   recipes/en_es/ablations.sh --data-dir ../shared/data/en-es               # all, 30 min each
#   MINUTES=10 recipes/en_es/ablations.sh --data-dir DIR baseline fused       # some, shorter
#   OUT=exp/ablations recipes/en_es/ablations.sh --data-dir DIR --direction es-en
#   recipes/en_es/ablations.sh --data-dir DIR --set training.threads=1 baseline fused
#
# --set KEY=VALUE applies to every ablation, the baseline included: two instances with
# training.threads=1 and different ablation names share 2 cores evenly (start the second once the
# first has finished the baseline's stages 0-1).
#
# Each ablation is a recipe experiment (stages 0-2) in $OUT/<name>; the ones that keep the
# vocabulary reuse the baseline's data, SentencePiece model and tokenized cache. Finished ablations
# are skipped, so a stopped run continues where it was. The table goes to $OUT/ablations.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$ROOT/recipes/en_es/run.sh
OUT=${OUT:-exp/en_es/ablations}
MINUTES=${MINUTES:-30}
PYTHON=${PYTHON:-python}
DIRECTION=en-es
DATA_ARGS=()
COMMON_SETS=()
NAMES=()

# what conf/cpu.yaml said before the ablations chose its learning rate and decoder (and before
# the decay schedule, which would anneal within these short budgets), with the values of its later
# changes as they were then (dropout 0.2, attention as wide as the decoder, every final period
# kept), so that the baseline reproduces the recorded table's
REFERENCE=(training.lr=1e-3 model.decoder=input_feeding training.schedule=plateau
  model.dropout=0.2 model.attention_size=0 data.drop_final_period=0.0)
# name -> --set overrides of the reference (space-separated SECTION.KEY=VALUE)
declare -A ABLATION=(
  [baseline]=""
  [fused]="model.decoder=fused"
  [dropout0.1]="model.dropout=0.1"
  [lr2e-3]="training.lr=2e-3"
  [tokens6000]="training.max_tokens=6000"
  [vocab16k]="tokenizer.vocab_size=16000"
  [decoder256]="model.decoder_hidden=256"
  [lr2e-3+fused]="training.lr=2e-3 model.decoder=fused"
  [lr2e-3+fused+shared]="training.lr=2e-3 model.decoder=fused model.share_embeddings=true"
  [lr2e-3+fused+copy]="training.lr=2e-3 model.decoder=fused model.copy_attention=true"
)
ORDER=(baseline fused dropout0.1 lr2e-3 tokens6000 vocab16k decoder256 lr2e-3+fused
  lr2e-3+fused+shared lr2e-3+fused+copy)

while (($#)); do
  case $1 in
    --data-dir) DATA_ARGS=(--data-dir "$2"); shift 2 ;;
    --direction) DIRECTION=$2; shift 2 ;;
    --set) COMMON_SETS+=(--set "$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *)
      [[ -v ABLATION[$1] ]] || { echo "ablations.sh: unknown ablation '$1' (${ORDER[*]})" >&2; exit 2; }
      NAMES+=("$1"); shift ;;
  esac
done
((${#NAMES[@]})) || NAMES=("${ORDER[@]}")
OUT=$OUT/$DIRECTION
mkdir -p "$OUT"

# share_prepared NAME: give an ablation that keeps the vocabulary the baseline's stages 0 and 1
share_prepared() {
  local from=$OUT/baseline to=$OUT/$1
  [[ -e $from/done/1.spm && ! -e $to/done/1.spm ]] || return 0
  mkdir -p "$to/model" "$to/done"
  cp -r "$from/data" "$to/"
  if [[ -d $from/cache ]]; then cp -rl "$from/cache" "$to/"; fi  # hard links: read only
  cp "$from"/model/spm*.model "$to/model/"
  cp "$from/done/0.data" "$from/done/1.spm" "$to/done/"
}

# the baseline's stages 0-1: the data and vocabulary that every ablation but vocab16k shares
"$RUN" --direction "$DIRECTION" --exp "$OUT/baseline" --stop-stage 1 "${DATA_ARGS[@]}" \
  "${COMMON_SETS[@]}"
for name in "${NAMES[@]}"; do
  [[ $name == baseline || $name == vocab16k ]] || share_prepared "$name"
  sets=()
  for setting in "${REFERENCE[@]}"; do sets+=(--set "$setting"); done
  sets+=("${COMMON_SETS[@]}" --set "training.max_minutes=$MINUTES")
  for setting in ${ABLATION[$name]}; do sets+=(--set "$setting"); done
  echo "[$(date +%H:%M:%S)] ablation $name: ${ABLATION[$name]:-conf/cpu.yaml}, $MINUTES min"
  "$RUN" --direction "$DIRECTION" --exp "$OUT/$name" --stop-stage 2 "${DATA_ARGS[@]}" "${sets[@]}"
done

"$PYTHON" - "$OUT" "$MINUTES" "${COMMON_SETS[*]:-}" "${NAMES[@]}" <<'EOF' | tee "$OUT/ablations.md"
import json, sys
from pathlib import Path

out, minutes, common, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
common = common.replace("--set ", "")
print(f"Validation BLEU / chrF (greedy) after {minutes} minutes of training, {out.name}", end="")
print(f", every run with {common}:\n" if common else ":\n")
print("| ablation | settings | BLEU at step 500 | steps | final BLEU | final chrF | best BLEU "
      "| src+tgt tok/s |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in names:
    log = out / name / "model" / "train_log.jsonl"
    if not log.is_file():
        print(f"| {name} | (not run) | | | | | | |")
        continue
    records = [json.loads(line) for line in log.read_text().splitlines()]
    valid = [r for r in records if r.get("event") == "valid"]
    train = [r for r in records if r.get("event") == "train"]
    speed = sorted(r["src_tgt_tok_s"] for r in train)[len(train) // 2] if train else 0
    settings = {
        "baseline": "lr 1e-3, input feeding", "fused": "fused decoder", "dropout0.1": "dropout 0.1",
        "lr2e-3": "lr 2e-3", "tokens6000": "6,000-token batches", "vocab16k": "16k pieces",
        "decoder256": "decoder 256", "lr2e-3+fused": "lr 2e-3, fused decoder",
        "lr2e-3+fused+shared": "lr 2e-3, fused decoder, shared embeddings",
        "lr2e-3+fused+copy": "lr 2e-3, fused decoder, copy attention",
    }.get(name, name)
    last, best = valid[-1], max(valid, key=lambda r: r["bleu"])
    # equal steps compare the settings even where other jobs slowed some runs down
    at_500 = next((f"{r['bleu']:.2f}" for r in valid if r["step"] == 500), "")
    print(
        f"| {name} | {settings} | {at_500} | {last['step']:,} | {last['bleu']:.2f} "
        f"| {last['chrf']:.2f} "
        f"| {best['bleu']:.2f} | {speed:,.0f} |"
    )
EOF
