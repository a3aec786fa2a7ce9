#!/usr/bin/env bash
# Waits for the recipe's stage 3, then runs, one after the other, alone on the machine:
# the int8 shortlist rows/columns comparison, the recipe model's quality, the workers timing.
set -uo pipefail
until [ -e /work/exp/recipe/done/3.average ]; do
  [ "$(date +%H%M)" -gt 1100 ] && { echo "no stage 3 by 11:00"; exit 1; }
  sleep 15
done
date; echo "recipe done"
. /work/main/.venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
(cd /tmp && PYTHONPATH=/work/wt-gather python /work/exp/m29/gather.py) > /work/exp/m29/gather.log 2>&1
date; echo "gather done"
/work/exp/m29/recipe_eval.sh > /work/exp/m29/recipe_eval.log 2>&1
date; echo "recipe eval done"
/work/exp/m29/workers6.sh > /work/exp/m29/workers6.log 2>&1
date; echo "workers done"
/work/exp/m29/timing5.sh > /work/exp/m29/timing5.log 2>&1
date; echo "timing5 done"
