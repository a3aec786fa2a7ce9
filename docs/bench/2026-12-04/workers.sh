#!/usr/bin/env bash
# --workers 2 (1 thread each) against one 2-thread process on tatoeba/test, base en-es model.
set -euo pipefail
O=/work/exp/m29/workers; mkdir -p $O
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
S=/work/shared/data/en-es/tatoeba/test.en
for run in "1 2" "2 1"; do set -- $run
  /usr/bin/time -f "%e s wall, %M kB max RSS" -o $O/w$1.time nmt translate -m /work/exp/base/model -i $S -o $O/w$1.es \
    --workers $1 --threads $2 --beam-size 5 --precision int8
done
cmp $O/w1.es $O/w2.es && echo same-output
cat $O/w1.time $O/w2.time
