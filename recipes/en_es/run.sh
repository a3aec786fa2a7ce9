#!/usr/bin/env bash
# English <-> Spanish RNN translation, from corpora to a results table, in numbered stages.
#
#   recipes/en_es/run.sh [--stage N] [--stop-stage M] [--force] [--direction en-es|es-en]
#                        [--config FILE] [--exp DIR] [--data-dir DIR] [--set SECTION.KEY=VALUE]...
#
#   0 data         corpora into $EXP/data (recipes/en_es/prepare_data.py)
#   1 spm          SentencePiece model(s) into $EXP/model (nmt spm-train)
#   2 train        nmt train; continues from the last checkpoint when there is one
#   3 average      the last (or best) $AVERAGE_N (3) checkpoints -> $EXP/model/averaged.pt
#   4 translate    every test set -> $EXP/translations/<set>.<tgt>, with the length penalty (and
#                  output minimum) that scores best on held-out lines of the validation sets
#                  ($EXP/length_penalty.json); the search used goes to $EXP/search.json
#   5 score        sacrebleu BLEU/chrF/TER with signatures -> $EXP/scores/<set>.json
#   6 results      $EXP/results.md, results.json and training.png
#
# A finished stage leaves $EXP/done/<N>.<name> and is skipped on the next run unless --force is
# given; a stage that runs (again) marks itself and the later stages as not done until it ends.
# Stage times go to $EXP/stage_times.tsv. Every option can also be set as an environment
# variable (DATA_DIR=...).
# See recipes/en_es/README.md.
set -euo pipefail

RECIPE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$RECIPE_DIR/../.." && pwd)

STAGE=${STAGE:-0}
STOP_STAGE=${STOP_STAGE:-6}
FORCE=${FORCE:-0}
DIRECTION=${DIRECTION:-en-es}
CONFIG=${CONFIG:-$RECIPE_DIR/conf/cpu.yaml}
DATA_DIR=${DATA_DIR:-}             # empty: download (needs internet)
EXP=${EXP:-}                       # default: exp/en_es/<config name>.<direction>
PYTHON=${PYTHON:-python}
TRAIN_SETS=${TRAIN_SETS:-}            # training corpora (stage 0), SET*K to repeat one K times an
                                      # epoch; default: tatoeba/train newscommentary/train,
                                      # wmt/newstest2008..2010 and newssyscomb2009, and
                                      # wmt/newstest2011 past the held-out lines, news sets *4
                                      # (prepare_data.py default_train_sets).
                                      # SET:FIRST-LAST: its lines FIRST..LAST (FIRST-: to the end);
                                      # of a validation set, past VALID_LINES + TUNE_LINES only
MAX_TRAIN_PAIRS=${MAX_TRAIN_PAIRS:-}  # keep N pairs of each training corpus (quick runs)
MAX_EVAL_LINES=${MAX_EVAL_LINES:-}    # keep the first N lines of each dev/test set
VALID_LINES=${VALID_LINES:-500}       # lines of each validation set (tatoeba/dev, newstest2011)
AVERAGE=${AVERAGE:-last}              # last | best: which step checkpoints stage 3 averages
AVERAGE_N=${AVERAGE_N:-3}
THREADS=${THREADS:-}                  # translation threads; default: the config's training.threads
DEVICE=${DEVICE:-}                    # translation device; default: the config's training.device
BEAM_SIZE=${BEAM_SIZE:-}              # stage 4's beam; default: the model config's decoding.beam_size
LENGTH_PENALTY=${LENGTH_PENALTY:-tune}  # tune | a number | config (its decoding.length_penalty)
TUNE_LINES=${TUNE_LINES:-800}         # held-out lines of each validation set that tune it...
TUNE_ALPHAS=${TUNE_ALPHAS:-0.6 1.0 1.4 1.8 2.2 2.6}  # ...among these (tools/tune_length_penalty.py)
TUNE_MIN_LEN_A=${TUNE_MIN_LEN_A:-0}   # ...with each of these output minimums (decoding.min_len_a)
SPLIT_SENTENCES=${SPLIT_SENTENCES:-}  # 1 | 0: translate each sentence of a line on its own or
                                      # not; empty: the config's decoding.split_sentences
MBR_SAMPLES=${MBR_SAMPLES:-}          # stage 4: N > 0: minimum Bayes risk over N sampled
                                      # translations (--mbr --mbr-samples N); 0: no MBR; empty:
                                      # the config's decoding.mbr and mbr_samples
UPDATE_README=${UPDATE_README:-0}     # 1: stage 6 also writes the results into README.md
                                      # (the other direction: its EXP, else results/*.json)
SETS=()

die() { echo "run.sh: error: $*" >&2; exit 2; }

while (($#)); do
  case $1 in
    --stage) STAGE=$2; shift 2 ;;
    --stop-stage) STOP_STAGE=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    --direction) DIRECTION=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --exp) EXP=$2; shift 2 ;;
    --data-dir) DATA_DIR=$2; shift 2 ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

case $DIRECTION in
  en-es|es-en) ;;
  *) die "--direction must be en-es or es-en, not '$DIRECTION'" ;;
esac
[[ $SPLIT_SENTENCES =~ ^[01]?$ ]] || die "SPLIT_SENTENCES must be 1, 0 or empty, not '$SPLIT_SENTENCES'"
[[ $MBR_SAMPLES =~ ^[0-9]*$ ]] || die "MBR_SAMPLES must be a number of samples or empty, not '$MBR_SAMPLES'"
SRC=${DIRECTION%-*}
TGT=${DIRECTION#*-}
[[ -f $CONFIG ]] || die "config $CONFIG not found"
CONFIG_NAME=$(basename "$CONFIG" .yaml)
EXP=${EXP:-exp/en_es/$CONFIG_NAME.$DIRECTION}
mkdir -p "$EXP"
EXP=$(cd "$EXP" && pwd)
CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")
if [[ -n $DATA_DIR ]]; then
  [[ -d $DATA_DIR ]] || die "DATA_DIR $DATA_DIR is not a directory"
  DATA_DIR=$(cd "$DATA_DIR" && pwd)
fi
DATA=$EXP/data
MODEL=$EXP/model
CHECKPOINT=$MODEL/averaged.pt

log() { echo "[$(date +%H:%M:%S)] $*"; }

# data_file SET LANG: the experiment's file of SET (e.g. tatoeba/test) in LANG, plain or .gz
data_file() {
  if [[ -e $DATA/$1.$2 ]]; then echo "$DATA/$1.$2"; else echo "$DATA/$1.$2.gz"; fi
}

# manifest KEY: the set names that stage 0 recorded under KEY (train, valid, test)
manifest() {
  "$PYTHON" -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))[sys.argv[2]]))' \
    "$DATA/manifest.json" "$1"
}

# yaml_list FILE...: a YAML flow list of quoted paths, for --set
yaml_list() {
  local out="" path
  for path in "$@"; do out+="${out:+, }\"$path\""; done
  echo "[$out]"
}

record_time() {  # record_time STAGE NAME SECONDS
  local table=$EXP/stage_times.tsv
  [[ -f $table ]] || printf 'stage\tname\tseconds\tfinished\n' >"$table"
  awk -F '\t' -v s="$1" -v n="$2" '!($1 == s && $2 == n)' "$table" >"$table.tmp"
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$table.tmp"
  mv "$table.tmp" "$table"
}

seconds_since() {  # seconds_since START (an $EPOCHREALTIME)
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# run_stage N NAME FUNCTION: run FUNCTION if N is in [STAGE, STOP_STAGE] and not done yet
run_stage() {
  local number=$1 name=$2 function=$3
  ((number >= STAGE && number <= STOP_STAGE)) || return 0
  local marker=$EXP/done/$number.$name
  if [[ -e $marker && $FORCE != 1 ]]; then
    log "stage $number ($name): done already, skipped (--force redoes it)"
    return 0
  fi
  log "stage $number ($name): started"
  # this stage and the ones after it are not done until this one finishes
  mkdir -p "$EXP/done"
  local done_marker
  for done_marker in "$EXP"/done/*; do
    [[ -e $done_marker ]] || continue
    local n=${done_marker##*/}
    if ((${n%%.*} >= number)); then rm -f "$done_marker"; fi
  done
  local start=$EPOCHREALTIME elapsed
  "$function"
  elapsed=$(seconds_since "$start")
  record_time "$number" "$name" "$elapsed"
  touch "$marker"
  log "stage $number ($name): finished in ${elapsed}s"
}

# ---- stages -----------------------------------------------------------------------------------

stage_data() {
  local options=(--out "$DATA" --valid-lines "$VALID_LINES")
  options+=(--held-out-lines "$((VALID_LINES + TUNE_LINES))")  # a training range must skip these
  if [[ -n $DATA_DIR ]]; then
    options+=(--data-dir "$DATA_DIR")
  else
    log "no DATA_DIR: downloading the corpora (DATA_DIR=../shared/data/en-es uses a local copy)"
    options+=(--download)
  fi
  [[ -z $MAX_TRAIN_PAIRS ]] || options+=(--max-train-pairs "$MAX_TRAIN_PAIRS")
  # shellcheck disable=SC2206  # a list of set names
  [[ -z $TRAIN_SETS ]] || options+=(--train $TRAIN_SETS)
  [[ -z $MAX_EVAL_LINES ]] || options+=(--max-eval-lines "$MAX_EVAL_LINES")
  "$PYTHON" "$RECIPE_DIR/prepare_data.py" "${options[@]}"
}

train_files() {  # train_files LANG: each training file, as many times as stage 0 repeats it
  "$PYTHON" -c 'import json, sys
manifest = json.load(open(sys.argv[1] + "/manifest.json"))
for name in manifest["train"]:
    entry = manifest["sets"][name]
    for _ in range(entry.get("repeat", 1)):
        print(sys.argv[1] + "/" + entry["files"][sys.argv[2]])' "$DATA" "$1"
}

stage_spm() {
  if compgen -G "$MODEL/checkpoints/step_*.pt" >/dev/null; then
    die "$MODEL/checkpoints holds a model trained with the current SentencePiece model; " \
      "remove $MODEL to start again with a new one"
  fi
  mapfile -t src < <(train_files "$SRC")
  mapfile -t tgt < <(train_files "$TGT")
  "$PYTHON" -m nmt spm-train -c "$CONFIG" --src "${src[@]}" --tgt "${tgt[@]}" -o "$MODEL" \
    "${SETS[@]}"
}

stage_train() {
  mapfile -t src < <(train_files "$SRC")
  mapfile -t tgt < <(train_files "$TGT")
  local resume=()
  if compgen -G "$MODEL/checkpoints/step_*.pt" >/dev/null; then
    log "continuing from the last checkpoint in $MODEL/checkpoints"
    resume=(--resume)
  fi
  "$PYTHON" -m nmt train "$CONFIG" \
    --set "data.src_lang=$SRC" --set "data.tgt_lang=$TGT" \
    --set "data.train_src=$(yaml_list "${src[@]}")" \
    --set "data.train_tgt=$(yaml_list "${tgt[@]}")" \
    --set "data.dev_src=\"$DATA/valid.$SRC\"" --set "data.dev_tgt=\"$DATA/valid.$TGT\"" \
    --set "data.cache_dir=\"$EXP/cache\"" --set "training.model_dir=\"$MODEL\"" \
    "${SETS[@]}" "${resume[@]}"
  "$PYTHON" "$ROOT/tools/results_table.py" --record-machine "$EXP/machine.json"
}

stage_average() {
  "$PYTHON" -m nmt average "$MODEL" "--$AVERAGE" "$AVERAGE_N" -o "$CHECKPOINT"
}

# translation_settings: "THREADS DEVICE BEAM", each from the model's config unless given
translation_settings() {
  "$PYTHON" -c 'import sys
from nmt.config import load_config
from nmt.devices import resolve_device
config = load_config(sys.argv[1])
threads = sys.argv[2] or config.training.threads
device = sys.argv[3] or resolve_device(config.training.device).type
print(threads, device, sys.argv[4] or config.decoding.beam_size)' \
    "$MODEL/config.yaml" "$THREADS" "$DEVICE" "$BEAM_SIZE"
}

# search_flags: the translator's flags for SPLIT_SENTENCES and MBR_SAMPLES, where set
search_flags() {
  case $SPLIT_SENTENCES in
    1) echo --split-sentences ;;
    0) echo --no-split-sentences ;;
  esac
  case $MBR_SAMPLES in
    "") ;;
    0) echo --no-mbr ;;
    *) echo --mbr --mbr-samples "$((10#$MBR_SAMPLES))" ;;
  esac
}

# search_overrides: the same as JSON keys, stored with the tuning and the translations so that
# both are redone when they change (the keys are absent when the config's settings are used)
search_overrides() {
  "$PYTHON" -c 'import json, sys
keys = {"split_sentences": sys.argv[1], "mbr_samples": sys.argv[2]}
print(json.dumps({k: int(v) for k, v in keys.items() if v}))' "$SPLIT_SENTENCES" "$MBR_SAMPLES"
}

# tuning_sets: "NAME SRC TGT" of each validation set with lines past the ones validation uses
tuning_sets() {
  local set
  for set in $("$PYTHON" -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(" ".join(n for n in m["valid"] if m["sets"][n]["lines"] > m["options"]["valid_lines"]))' \
      "$DATA/manifest.json"); do
    echo "$set $(data_file "$set" "$SRC") $(data_file "$set" "$TGT")"
  done
}

# search_options THREADS DEVICE BEAM: stage 4's --length-penalty (and --min-len-a); none: the
# config's. LENGTH_PENALTY=tune picks them on validation lines that checkpoint selection never saw,
# so the test sets stay unseen; a tuning done with another beam is redone
search_options() {
  case $LENGTH_PENALTY in
    config) return 0 ;;
    tune) ;;
    *) echo "--length-penalty $LENGTH_PENALTY"; return 0 ;;
  esac
  local tuned=$EXP/length_penalty.json overrides
  overrides=$(search_overrides)
  if [[ $FORCE == 1 || ! -s $tuned || $CHECKPOINT -nt $tuned ]] || ! "$PYTHON" -c 'import json, sys
tuned = json.load(open(sys.argv[1]))
same = {k: tuned.get(k) for k in ("beam_size", "split_sentences", "mbr_samples")}
sys.exit(same != {"beam_size": int(sys.argv[2]), "split_sentences": None, "mbr_samples": None,
                  **json.loads(sys.argv[3])})' "$tuned" "$3" "$overrides"; then
    local sets=() name src tgt
    while read -r name src tgt; do sets+=(--set "$name" "$src" "$tgt"); done < <(tuning_sets)
    if ((${#sets[@]} == 0)); then
      log "  no held-out validation lines (each set has only VALID_LINES): the config's alpha" >&2
      rm -f "$tuned"
      return 0
    fi
    local valid_lines
    valid_lines=$("$PYTHON" -c 'import json, sys
print(json.load(open(sys.argv[1]))["options"]["valid_lines"])' "$DATA/manifest.json")
    local options=(-m "$MODEL" --checkpoint "$CHECKPOINT" --device "$2" --beam-size "$3")
    options+=($(search_flags))
    if (($1 > 0)); then options+=(--threads "$1"); fi
    # shellcheck disable=SC2086  # TUNE_ALPHAS and TUNE_MIN_LEN_A are lists
    "$PYTHON" "$ROOT/tools/tune_length_penalty.py" "${options[@]}" "${sets[@]}" \
      --skip "$valid_lines" --max-lines "$TUNE_LINES" --alphas $TUNE_ALPHAS \
      --min-len-a $TUNE_MIN_LEN_A --json "$tuned.tmp" >"$EXP/length_penalty.md"
    "$PYTHON" -c 'import json, sys
tuned = json.load(open(sys.argv[1]))
json.dump({**tuned, **json.loads(sys.argv[2])}, open(sys.argv[1], "w"), indent=1)' \
      "$tuned.tmp" "$overrides"
    mv "$tuned.tmp" "$tuned"
    log "  length penalty tuned: $(tail -n 1 "$EXP/length_penalty.md")" >&2
  fi
  "$PYTHON" -c 'import json, sys
tuned = json.load(open(sys.argv[1]))
print("--length-penalty %g --min-len-a %g" % (tuned["best"], tuned.get("min_len_a", 0)))' "$tuned"
}

stage_translate() {
  local settings threads device beam set search
  settings=$(translation_settings)
  read -r threads device beam <<<"$settings"
  local options=(-m "$MODEL" --checkpoint "$CHECKPOINT" --device "$device" --beam-size "$beam")
  if ((threads > 0)); then options+=(--threads "$threads"); fi
  local flags
  flags=$(search_flags | xargs)
  # shellcheck disable=SC2206  # flags and numbers, no spaces inside
  options+=($flags)
  search=$(search_options "$threads" "$device" "$beam")
  # shellcheck disable=SC2206  # flags and numbers, no spaces inside
  options+=($search)
  log "  search: beam $beam, ${search:-length penalty of the config}${flags:+, $flags}"
  # the search used, for stage 6 (the beam may differ from the model's config); translations
  # made with another search are stale even when newer than the weights
  local stale=$FORCE
  "$PYTHON" -c 'import json, sys
search = {"beam_size": int(sys.argv[2]), "options": sys.argv[3], **json.loads(sys.argv[4])}
try:
    same = json.load(open(sys.argv[1])) == search
except (OSError, ValueError):  # none yet, or cut off mid-write
    same = False
json.dump(search, open(sys.argv[1], "w"))
sys.exit(0 if same else 1)' "$EXP/search.json" "$beam" "$search" "$(search_overrides)" || stale=1
  for set in $(manifest test); do
    local out=$EXP/translations/$set.$TGT
    # a translation newer than the weights survives an interrupted stage
    if [[ $stale != 1 && -s $out && $out -nt $CHECKPOINT ]]; then
      log "  $set: translated already"
      continue
    fi
    mkdir -p "$(dirname "$out")"
    local start=$EPOCHREALTIME
    "$PYTHON" -m nmt translate "${options[@]}" -i "$(data_file "$set" "$SRC")" -o "$out.tmp"
    mv "$out.tmp" "$out"
    record_time 4 "translate $set" "$(seconds_since "$start")"
    log "  $set: $(wc -l <"$out") lines in $(seconds_since "$start")s"
  done
}

stage_score() {
  local set
  for set in $(manifest test); do
    local out=$EXP/scores/$set.json
    mkdir -p "$(dirname "$out")"
    "$PYTHON" -m nmt evaluate --json --metrics bleu,chrf,ter \
      --hyp "$EXP/translations/$set.$TGT" --ref "$(data_file "$set" "$TGT")" >"$out.tmp"
    mv "$out.tmp" "$out"
    log "  $set: $("$PYTHON" -c 'import json, sys
print(", ".join("%s %.1f" % (s["label"], s["score"]) for s in json.load(open(sys.argv[1]))))' "$out")"
  done
}

stage_results() {
  "$PYTHON" "$ROOT/tools/results_table.py" --exp "$EXP" \
    --markdown "$EXP/results.md" --json "$EXP/results.json"
  cat "$EXP/results.md"
  if "$PYTHON" -c 'import matplotlib' 2>/dev/null; then
    "$PYTHON" -m nmt plot training "$MODEL" -o "$EXP/training.png" --title "$(basename "$EXP")"
  else
    log "matplotlib is not installed (pip install -e '.[plot]'): no training.png"
  fi
  if [[ $UPDATE_README == 1 ]]; then
    local exps=() direction
    for direction in en-es es-en; do
      local other=$(dirname "$EXP")/$CONFIG_NAME.$direction
      local saved=$RECIPE_DIR/results/$CONFIG_NAME.$direction.json  # a run kept in the repository
      if [[ -e $other/done/5.score ]]; then
        exps+=(--exp "$other")
      elif [[ -e $saved ]]; then
        exps+=(--exp "$saved")
      fi
    done
    "$PYTHON" "$ROOT/tools/results_table.py" "${exps[@]}" --update-readme "$RECIPE_DIR/README.md"
  fi
}

log "direction $DIRECTION, config $CONFIG, experiment $EXP, stages $STAGE..$STOP_STAGE"
run_stage 0 data stage_data
run_stage 1 spm stage_spm
run_stage 2 train stage_train
run_stage 3 average stage_average
run_stage 4 translate stage_translate
run_stage 5 score stage_score
run_stage 6 results stage_results
