#!/usr/bin/env bash
# --workers 2 --threads 1 against --workers 1 --threads 2, int8, all of tatoeba/test, base en-es
# model, alternated 3 times, whole process, alone on the machine
set -euo pipefail
O=/work/exp/m29/workers5; mkdir -p $O
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
S=/work/shared/data/en-es/tatoeba/test.en
for i in 1 2 3; do
  for run in "1 2" "2 1"; do set -- $run
    /usr/bin/time -f "w$1 run$i %e s wall, %M kB max RSS" -a -o $O/times.txt nmt translate -m /work/exp/base/model \
      -i $S -o $O/w$1.es --workers $1 --threads $2 --precision int8
  done
  cmp $O/w1.es $O/w2.es && echo "run$i same-output" >> $O/times.txt
done
cat $O/times.txt
