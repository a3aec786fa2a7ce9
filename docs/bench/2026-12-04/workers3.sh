#!/usr/bin/env bash
# --workers 2 (1 thread each) against one 2-thread process on all of tatoeba/test, base en-es
# model, the model's own decoding settings (beam 5), fp32 (the default) and int8; alone.
set -euo pipefail
O=/work/exp/m29/workers3; mkdir -p $O
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
S=/work/shared/data/en-es/tatoeba/test.en
for p in int8 fp32; do
  for run in "1 2" "2 1"; do set -- $run
    /usr/bin/time -f "%e s wall, %M kB max RSS" -o $O/$p.w$1.time nmt translate -m /work/exp/base/model \
      -i $S -o $O/$p.w$1.es --workers $1 --threads $2 --precision $p
  done
  cmp $O/$p.w1.es $O/$p.w2.es && echo "$p same-output"
  cat $O/$p.w1.time $O/$p.w2.time
done
echo workers3-done
