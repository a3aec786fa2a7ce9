#!/usr/bin/env bash
# Translate the recipe's test sets with Apertium (the rule-based baseline our models must beat)
# and score them with `nmt evaluate`; with EXP given, also test whether the recipe's translations
# beat Apertium (sacrebleu's paired bootstrap).
#
#   sudo apt-get install apertium-en-es            # Debian; provides the eng-spa / spa-eng modes
#   tools/apertium_baseline.sh [DATA_DIR] [OUT]    # default ../shared/data/en-es exp/apertium
#   EXP_EN_ES=exp/en_es/cpu.en-es EXP_ES_EN=exp/en_es/cpu.es-en tools/apertium_baseline.sh
#
# `apertium -u` (plain text, no marks on unknown words) reproduces the issue's reference figures
# (tatoeba/test en->es BLEU 26.5 / chrF 52.5).
set -euo pipefail
DATA_DIR="${1:-../shared/data/en-es}"
OUT="${2:-exp/apertium}"
SETS=(tatoeba/test flores/dev wmt/newstest2012 tico19/test)
command -v apertium >/dev/null || { echo "apertium not found: apt-get install apertium-en-es" >&2; exit 2; }
mkdir -p "$OUT"
for direction in en-es es-en; do
  src=${direction%-*}; tgt=${direction#*-}
  mode=$([ "$direction" = en-es ] && echo eng-spa || echo spa-eng)
  exp_var=EXP_${src^^}_${tgt^^}; exp="${!exp_var:-}"
  for set in "${SETS[@]}"; do
    name=${set//\//_}
    hyp="$OUT/$name.$direction.$tgt"
    [ -s "$hyp" ] || apertium -u "$mode" "$DATA_DIR/$set.$src" > "$hyp"
    if [ "$(wc -l < "$hyp")" != "$(wc -l < "$DATA_DIR/$set.$tgt")" ]; then
      echo "$hyp: line count differs from $DATA_DIR/$set.$tgt" >&2; exit 1
    fi
    nmt evaluate --hyp "$hyp" --ref "$DATA_DIR/$set.$tgt" --metrics bleu,chrf --json \
      > "$OUT/$name.$direction.json"
    if [ -n "$exp" ]; then
      nmt evaluate --hyp "$exp/translations/$set.$tgt" --baseline "$hyp" \
        --ref "$DATA_DIR/$set.$tgt" --metrics bleu,chrf --json > "$OUT/$name.$direction.vs_model.json"
    fi
  done
done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| direction | set | Apertium BLEU | Apertium chrF |")
print("| --- | --- | ---: | ---: |")
for path in sorted(out.glob("*.json")):
    if path.name.endswith(".vs_model.json"):
        continue
    name, direction = path.name.rsplit(".", 2)[:2]
    scores = {s["name"]: s["score"] for s in json.loads(path.read_text())}
    print(f"| {direction} | {name.replace('_', '/', 1)} | {scores['bleu']:.1f} | {scores['chrf']:.1f} |")
PY
