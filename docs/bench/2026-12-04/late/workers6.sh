#!/usr/bin/env bash
# --workers 2 --threads 1 against --workers 1 --threads 2, int8, beam 5 (the model's default), all
# of tatoeba/test (16,583 lines), base en-es model; the code before this session (de75e5e) and
# after the halving last chunks (c09c9d0) and the allocator settings (493b163), each from its
# own worktree; alternated 3 times, whole process, alone on the machine.
set -euo pipefail
O=/work/exp/m29/workers6; mkdir -p $O; : > $O/times.txt
. /work/main/.venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
S=/work/shared/data/en-es/tatoeba/test.en
cd /tmp  # not /work/main: its nmt/ would shadow PYTHONPATH
for i in 1 2 3; do
  for code in old new; do
    for run in "1 2" "2 1"; do set -- $run
      PYTHONPATH=/work/wt-$code /usr/bin/time -f "$code w$1 run$i %e s wall, %U user, %S sys, %R faults, %M kB max RSS" -a -o $O/times.txt \
        nmt translate -m /work/exp/base/model -i $S -o $O/$code.w$1.es --workers $1 --threads $2 --precision int8
    done
    cmp $O/$code.w1.es $O/$code.w2.es && echo "$code run$i same-output" >> $O/times.txt
  done
done
cat $O/times.txt
