#!/usr/bin/env bash
# The default shortlist (50 per source piece, 100 frequent) counted over every training pair
# (400,382) instead of 200,000 drawn at random; alone on the machine.
set -euo pipefail
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
M=/work/exp/base/model; D=/work/shared/data/en-es; O=/work/exp/m29/sl_speed
A=/work/exp/m29/model_all_sl; mkdir -p $A
cp $M/config.yaml $M/model.pt $M/spm.model $A/
/usr/bin/time -f "%e s wall, %M kB max RSS" -o $O/all_build.time \
  nmt shortlist -m $A --max-pairs 1000000 --threads 2 > $O/all_build.log 2>&1
for name in int8_all_short fp32_all_short; do
  for s in flores/dev wmt/newstest2012; do
    out=$O/$name.${s//\//_}.es
    flags=(--shortlist); [[ $name == int8* ]] && flags+=(--precision int8)
    /usr/bin/time -f "%e s wall, %M kB max RSS" -o $out.time \
      nmt translate -m $A -i $D/$s.en -o $out --threads 2 --beam-size 5 "${flags[@]}"
    nmt evaluate --hyp $out --ref $D/$s.es --metrics bleu,chrf --json > $out.json
  done
done
echo sl-all-done
