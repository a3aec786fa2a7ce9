#!/usr/bin/env bash
# Issue 29: ensemble of two independently trained en-es models (base: seed 1234, base2: seed 2,
# both 2,378 steps of the CPU recipe's config), beam 5 fp32, and the speed cost (flores/dev,
# whole-process wall time from /usr/bin/time).
set -euo pipefail
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
M1=/work/exp/base/model; M2=/work/exp/base2/model; D=/work/shared/data/en-es; O=/work/exp/m29
run() {  # NAME FLAGS...
  local name=$1; shift
  for s in flores/dev wmt/newstest2012; do
    local out=$O/$name.${s//\//_}.es
    [ -s $out ] || /usr/bin/time -f "%e s wall, %M kB max RSS" -o $out.time \
      nmt translate -i $D/$s.en -o $out --threads 2 --beam-size 5 "$@"
    nmt evaluate --hyp $out --ref $D/$s.es --metrics bleu,chrf --json > $out.json
  done
}
run fp32_timed -m $M1
run base2 -m $M2
run ens_seeds -m $M1 -m $M2
echo done
