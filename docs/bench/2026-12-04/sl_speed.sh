#!/usr/bin/env bash
# Shortlist speed on the recipe's test sets (base en-es model, beam 5, 2 threads, whole process,
# alone on the machine), with the code after the search-step speed-ups; each output compared
# with the same configuration's output from before them (bleu.sh). Then a larger shortlist
# (every training pair, 100 per source piece, 300 frequent) in a copy of the model directory.
set -euo pipefail
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
M=/work/exp/base/model; D=/work/shared/data/en-es; O=/work/exp/m29/sl_speed; mkdir -p $O
run() {  # NAME MODEL_DIR FLAGS...
  local name=$1 dir=$2; shift 2
  for s in flores/dev wmt/newstest2012; do
    local out=$O/$name.${s//\//_}.es
    /usr/bin/time -f "%e s wall, %M kB max RSS" -o $out.time \
      nmt translate -m $dir -i $D/$s.en -o $out --threads 2 --beam-size 5 "$@"
    nmt evaluate --hyp $out --ref $D/$s.es --metrics bleu,chrf --json > $out.json
    if [ -f /work/exp/m29/$name.${s//\//_}.es ]; then
      cmp $out /work/exp/m29/$name.${s//\//_}.es && echo "$name $s: same output as before"
    fi
  done
}
run fp32 $M
run fp32_short $M --shortlist
run int8 $M --precision int8
run int8_short $M --precision int8 --shortlist
L=/work/exp/m29/model_large_sl; mkdir -p $L
cp $M/config.yaml $M/model.pt $M/spm.model $L/
/usr/bin/time -f "%e s wall, %M kB max RSS" -o $O/large_build.time \
  nmt shortlist -m $L --max-pairs 500000 --per-source 100 --frequent 300 --threads 2 > $O/large_build.log 2>&1
run int8_large_short $L --precision int8 --shortlist
run fp32_large_short $L --shortlist
echo sl-speed-done
