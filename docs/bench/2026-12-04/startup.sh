#!/usr/bin/env bash
# start-up of nmt translate with one and two processes: one short line, whole process, 3 times
set -euo pipefail
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
O=/work/exp/m29/workers3; echo "Hello." > $O/one.en
for i in 1 2 3; do
  for run in "1 2" "2 1"; do set -- $run
    /usr/bin/time -f "w$1 %e s" nmt translate -m /work/exp/base/model -i $O/one.en -o $O/one.es --workers $1 --threads $2 --precision int8
  done
done
