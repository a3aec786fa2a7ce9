#!/usr/bin/env bash
# Adapt a trained English <-> Spanish model to news, and measure what that changed.
#
#   recipes/en_es/finetune_news.sh --base BASE_MODEL_DIR [--exp DIR] [--config FILE]
#                                  [--data-dir DIR] [--direction en-es|es-en] [--force]
#                                  [--set SECTION.KEY=VALUE]...
#
#   1 data      the WMT news training sets (News Commentary, newstest2008-2010,
#               newssyscomb2009 and newstest2011 past its held-out lines) and the news
#               validation set into $EXP/data (prepare_data.py); test sets wmt/newstest2012
#               and flores/dev
#   2 train     nmt train BASE/config.yaml, with the keys of conf/finetune_news.yaml (a short
#               time budget, a low learning rate, constant then decay), --init-from BASE:
#               its weights and vocabulary, a fresh optimizer -> $EXP/model
#   3 evaluate  nmt evaluate -m for the base model (BASE/model.pt, the weights fine-tuning
#               started from) and the fine-tuned one (its model.pt), each with its config's
#               decoding settings (the base's: the fine-tuning config leaves them alone)
#               -> $EXP/scores/{base,tuned}/<set>.json
#   4 table     $EXP/finetune.json and $EXP/finetune.md: BLEU and chrF before and after
#
# A finished data or training step leaves $EXP/done/<name> and is skipped on the next run unless
# --force is given; a stopped training continues from its last checkpoint; a score newer than
# its weights is kept. Every option can also be set as an environment variable (DATA_DIR=...).
# See recipes/en_es/README.md, "Fine-tuning on news".
set -euo pipefail

RECIPE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

BASE=${BASE:-}                        # the model directory to start from (e.g. EXP/model of run.sh)
CONFIG=${CONFIG:-$RECIPE_DIR/conf/finetune_news.yaml}  # keys replacing the base config's
DIRECTION=${DIRECTION:-en-es}         # the base model's direction
DATA_DIR=${DATA_DIR:-}                # empty: download (needs internet)
EXP=${EXP:-}                          # default: exp/en_es/finetune_news.<direction>
PYTHON=${PYTHON:-python}
FORCE=${FORCE:-0}
TRAIN_SETS=${TRAIN_SETS:-}            # default: the news sets of run.sh's training data
TEST_SETS=${TEST_SETS:-wmt/newstest2012 flores/dev}
MAX_TRAIN_PAIRS=${MAX_TRAIN_PAIRS:-}  # keep N pairs of each training corpus (quick runs)
MAX_EVAL_LINES=${MAX_EVAL_LINES:-}    # keep the first N lines of each validation/test set
VALID_LINES=${VALID_LINES:-500}       # lines of the news validation set (wmt/newstest2011)
HELD_OUT_LINES=${HELD_OUT_LINES:-1300}  # newstest2011 lines never trained on: run.sh's
                                        # VALID_LINES + TUNE_LINES, so both recipes agree
THREADS=${THREADS:-}                  # evaluation threads; default: the config's training.threads
DEVICE=${DEVICE:-cpu}                 # evaluation device
SETS=()

die() { echo "finetune_news.sh: error: $*" >&2; exit 2; }

while (($#)); do
  case $1 in
    --base) BASE=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --direction) DIRECTION=$2; shift 2 ;;
    --data-dir) DATA_DIR=$2; shift 2 ;;
    --exp) EXP=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

case $DIRECTION in
  en-es|es-en) ;;
  *) die "--direction must be en-es or es-en, not '$DIRECTION'" ;;
esac
[[ -n $BASE ]] || die "--base BASE_MODEL_DIR is required: the trained model to adapt"
[[ -f $BASE/config.yaml && -f $BASE/model.pt ]] \
  || die "$BASE is not a trained model directory (no config.yaml and model.pt)"
[[ -f $CONFIG ]] || die "config $CONFIG not found"
SRC=${DIRECTION%-*}
TGT=${DIRECTION#*-}
BASE=$(cd "$BASE" && pwd)
EXP=${EXP:-exp/en_es/finetune_news.$DIRECTION}
mkdir -p "$EXP/done"
EXP=$(cd "$EXP" && pwd)
if [[ -n $DATA_DIR ]]; then
  [[ -d $DATA_DIR ]] || die "DATA_DIR $DATA_DIR is not a directory"
  DATA_DIR=$(cd "$DATA_DIR" && pwd)
fi
DATA=$EXP/data
MODEL=$EXP/model

log() { echo "[$(date +%H:%M:%S)] $*"; }

# data_file SET LANG: the experiment's file of SET in LANG, plain or .gz
data_file() {
  if [[ -e $DATA/$1.$2 ]]; then echo "$DATA/$1.$2"; else echo "$DATA/$1.$2.gz"; fi
}

# yaml_list FILE...: a YAML flow list of quoted paths, for --set
yaml_list() {
  local out="" path
  for path in "$@"; do out+="${out:+, }\"$path\""; done
  echo "[$out]"
}

# step NAME FUNCTION: run FUNCTION unless $EXP/done/NAME says it finished (or --force)
step() {
  if [[ -e $EXP/done/$1 && $FORCE != 1 ]]; then
    log "$1: done already, skipped (--force redoes it)"
    return 0
  fi
  log "$1: started"
  "$2"
  touch "$EXP/done/$1"
  log "$1: finished"
}

step_data() {
  local train=$TRAIN_SETS
  if [[ -z $train ]]; then
    train="newscommentary/train wmt/newstest2008*4 wmt/newstest2009*4 wmt/newstest2010*4"
    train+=" wmt/newssyscomb2009*4 wmt/newstest2011:$((HELD_OUT_LINES + 1))-*4"
  fi
  local options=(--out "$DATA" --valid wmt/newstest2011 --valid-lines "$VALID_LINES")
  # shellcheck disable=SC2206  # lists of set names
  options+=(--held-out-lines "$HELD_OUT_LINES" --train $train --test $TEST_SETS)
  if [[ -n $DATA_DIR ]]; then options+=(--data-dir "$DATA_DIR"); else options+=(--download); fi
  [[ -z $MAX_TRAIN_PAIRS ]] || options+=(--max-train-pairs "$MAX_TRAIN_PAIRS")
  [[ -z $MAX_EVAL_LINES ]] || options+=(--max-eval-lines "$MAX_EVAL_LINES")
  "$PYTHON" "$RECIPE_DIR/prepare_data.py" "${options[@]}"
}

train_files() {  # train_files LANG: each training file, as many times as step 1 repeats it
  "$PYTHON" -c 'import json, sys
manifest = json.load(open(sys.argv[1] + "/manifest.json"))
for name in manifest["train"]:
    entry = manifest["sets"][name]
    for _ in range(entry.get("repeat", 1)):
        print(sys.argv[1] + "/" + entry["files"][sys.argv[2]])' "$DATA" "$1"
}

# config_overrides: --set SECTION.KEY=VALUE for each key of $CONFIG (values as JSON, which YAML
# reads back unchanged)
config_overrides() {
  "$PYTHON" -c 'import json, sys, yaml
for section, keys in (yaml.safe_load(open(sys.argv[1])) or {}).items():
    for key, value in (keys or {}).items():
        print("--set")
        print("%s.%s=%s" % (section, key, json.dumps(value)))' "$CONFIG"
}

step_train() {
  mapfile -t src < <(train_files "$SRC")
  mapfile -t tgt < <(train_files "$TGT")
  mapfile -t overrides < <(config_overrides)
  local resume=()
  if compgen -G "$MODEL/checkpoints/step_*.pt" >/dev/null; then
    log "continuing from the last checkpoint in $MODEL/checkpoints"
    resume=(--resume)
  fi
  "$PYTHON" -m nmt train "$BASE/config.yaml" "${overrides[@]}" \
    --set "data.train_src=$(yaml_list "${src[@]}")" \
    --set "data.train_tgt=$(yaml_list "${tgt[@]}")" \
    --set "data.dev_src=\"$DATA/valid.$SRC\"" --set "data.dev_tgt=\"$DATA/valid.$TGT\"" \
    --set "data.cache_dir=\"$EXP/cache\"" --set "training.model_dir=\"$MODEL\"" \
    "${SETS[@]}" --init-from "$BASE" "${resume[@]}"
}

step_evaluate() {
  local threads=$THREADS
  if [[ -z $threads ]]; then
    threads=$("$PYTHON" -c 'import sys
from nmt.config import load_config
print(load_config(sys.argv[1]).training.threads)' "$MODEL/config.yaml")
  fi
  local options=(--device "$DEVICE" --metrics bleu,chrf --json)
  if ((threads > 0)); then options+=(--threads "$threads"); fi
  local which model set
  for which in base tuned; do
    if [[ $which == base ]]; then model=$BASE; else model=$MODEL; fi
    for set in $TEST_SETS; do
      local out=$EXP/scores/$which/$set.json
      if [[ $FORCE != 1 && -s $out && $out -nt $model/model.pt ]]; then
        log "  $which $set: scored already"
        continue
      fi
      mkdir -p "$(dirname "$out")"
      "$PYTHON" -m nmt evaluate -m "$model" "${options[@]}" \
        --src "$(data_file "$set" "$SRC")" --ref "$(data_file "$set" "$TGT")" >"$out.tmp"
      mv "$out.tmp" "$out"
      log "  $which $set: $("$PYTHON" -c 'import json, sys
print(", ".join("%s %.1f" % (s["label"], s["score"]) for s in json.load(open(sys.argv[1]))))' "$out")"
    done
  done
}

step_table() {
  "$PYTHON" - "$EXP" "$BASE" "$DIRECTION" $TEST_SETS <<'EOF'
"""$EXP/finetune.json and finetune.md: each test set's BLEU and chrF before and after."""
import json
import sys
from pathlib import Path

from nmt.checkpoint import load_checkpoint
from nmt.model_dir import ModelDir

exp, base, direction, sets = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
manifest = json.loads((exp / "data" / "manifest.json").read_text())
progress = load_checkpoint(ModelDir(exp / "model").step_checkpoints()[-1][1])["progress"]


def scores(which, name):
    records = json.loads((exp / "scores" / which / f"{name}.json").read_text())
    return {r["name"]: r for r in records}


rows = []
for name in sets:
    before, after = scores("base", name), scores("tuned", name)
    entry = manifest["sets"][name]
    rows.append({
        "set": name,
        "lines": entry["lines"],
        "of": entry.get("of", entry["lines"]),
        **{f"{metric}_{which}": round(found[metric]["score"], 2)
           for metric in ("bleu", "chrf") for which, found in (("base", before), ("tuned", after))},
        "signatures": {metric: after[metric]["signature"] for metric in ("bleu", "chrf")},
    })
summary = {
    "direction": direction,
    "base": base,
    "tuned": str(exp / "model"),
    "train_sets": manifest["train"],
    "steps": progress["step"],
    "train_minutes": round(progress["train_seconds"] / 60, 1),
    "rows": rows,
}
(exp / "finetune.json").write_text(json.dumps(summary, indent=1) + "\n")
lines = [
    f"Fine-tuning {direction} on news: {summary['steps']} steps, {summary['train_minutes']} min"
    f" of training from `{base}` (its model.pt) on {', '.join(manifest['train'])}.",
    "",
    "| test set | lines | BLEU before | BLEU after | change | chrF before | chrF after | change |",
    "|---|---|---|---|---|---|---|---|",
]
for r in rows:
    count = f"{r['lines']:,}" if r["lines"] == r["of"] else f"{r['lines']:,} of {r['of']:,}"
    lines.append(
        f"| `{r['set']}` | {count} | {r['bleu_base']:.2f} | {r['bleu_tuned']:.2f} "
        f"| {r['bleu_tuned'] - r['bleu_base']:+.2f} | {r['chrf_base']:.2f} | {r['chrf_tuned']:.2f} "
        f"| {r['chrf_tuned'] - r['chrf_base']:+.2f} |"
    )
signatures = rows[0]["signatures"] if rows else {}
lines += ["", *(f"{metric}: `{signature}`" for metric, signature in signatures.items())]
(exp / "finetune.md").write_text("\n".join(lines) + "\n")
EOF
  cat "$EXP/finetune.md"
}

log "fine-tuning $BASE ($DIRECTION) on news, config $CONFIG, experiment $EXP"
step data step_data
step train step_train
step_evaluate
step_table
