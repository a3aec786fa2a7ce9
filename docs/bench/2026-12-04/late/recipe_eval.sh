#!/usr/bin/env bash
# Issue 29's quality bound on the recipe's own en-es model (recipes/en_es/run.sh, conf/cpu.yaml,
# 120 minutes, stages 0-3; the averaged checkpoint stage 4 translates with): the default
# shortlist (co-occurrence, 50 per piece, 300 frequent), fp32 and int8, beam 5, BLEU and chrF on
# flores/dev and wmt/newstest2012; each translation timed (whole process), alone on the machine.
set -euo pipefail
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
M=/work/exp/recipe/model; CK=$M/averaged.pt; D=/work/shared/data/en-es; O=/work/exp/m29/recipe
mkdir -p $O
[ -s $M/shortlist.pt ] || /usr/bin/time -f "%e s wall, %M kB max RSS" -o $O/shortlist.time \
  nmt shortlist -m $M --threads 2 > $O/shortlist.log 2>&1
run() {  # NAME FLAGS...
  local name=$1; shift
  for s in flores/dev wmt/newstest2012; do
    local out=$O/$name.${s//\//_}.es
    [ -s $out ] || /usr/bin/time -f "%e s wall, %M kB max RSS" -o $out.time \
      nmt translate -m $M --checkpoint $CK -i $D/$s.en -o $out --threads 2 --beam-size 5 "$@"
    nmt evaluate --hyp $out --ref $D/$s.es --metrics bleu,chrf --json > $out.json
  done
}
run fp32
run fp32_short --shortlist
run int8 --precision int8
run int8_short --precision int8 --shortlist
echo recipe-eval-done
