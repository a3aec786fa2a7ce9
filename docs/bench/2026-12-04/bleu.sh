#!/usr/bin/env bash
# the rest of bleu.sh, trimmed to fit the session: the checkpoint ensemble on flores/dev only
set -euo pipefail
while pgrep -f "nmt translate -m /work/exp/base/model -i /work/shared/data/en-es/wmt" >/dev/null; do sleep 5; done
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
M=/work/exp/base/model; D=/work/shared/data/en-es; O=/work/exp/m29
run() {  # NAME MODEL_DIR SETS FLAGS...
  local name=$1 dir=$2 sets=$3; shift 3
  for s in $sets; do
    local out=$O/$name.${s//\//_}.es
    [ -s $out ] || nmt translate -m $dir -i $D/$s.en -o $out --threads 2 --beam-size 5 "$@"
    nmt evaluate --hyp $out --ref $D/$s.es --metrics bleu,chrf --json > $out.json
  done
}
ALL="flores/dev wmt/newstest2012"
run fp32 $M "$ALL"
run int8 $M "$ALL" --precision int8
run int8_short $M "$ALL" --precision int8 --shortlist
run fp32_short $M "$ALL" --shortlist
run fp32_short_align $O/model_align "$ALL" --shortlist
run ens_last2 $M "flores/dev" --checkpoint $(ls $M/checkpoints/step_*.pt | tail -2)
run ens_last2 $M "wmt/newstest2012" --checkpoint $(ls $M/checkpoints/step_*.pt | tail -2)
echo done
