#!/usr/bin/env bash
# --workers 2 --threads 1, int8, tatoeba/test: the allocator settings with the halving last
# chunks (493b163) and without them (6fdf3c0), alternated 3 times, alone on the machine.
set -euo pipefail
O=/work/exp/m29/halving; mkdir -p $O; : > $O/times.txt
. /work/main/.venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
S=/work/shared/data/en-es/tatoeba/test.en
cd /tmp
for i in 1 2 3; do
  for code in new nohalf; do
    PYTHONPATH=/work/wt-$code /usr/bin/time -f "$code w2 run$i %e s wall, %U user, %S sys" -a -o $O/times.txt \
      nmt translate -m /work/exp/base/model -i $S -o $O/$code.w2.es --workers 2 --threads 1 --precision int8
  done
done
cat $O/times.txt
