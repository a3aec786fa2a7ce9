#!/usr/bin/env bash
# issue 31 speed: single-sentence requests from 1, 8 and 32 clients against nmt translate on the
# same sentences from a file (base en-es model, fp32, its config's search: beam 5), alone.
set -euo pipefail
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1
O=/work/exp/serve; M=/work/exp/base/model; D=/work/shared/data/en-es
head -1000 $D/tatoeba/test.en > $O/tat.en; head -400 $D/flores/dev.en > $O/flo.en
for s in tat flo; do
  /usr/bin/time -f "%e" -o $O/$s.cli.time nmt translate -m $M -i $O/$s.en -o $O/$s.ref.es --threads 2
done
python - $M $O/tat.en > $O/alone.json <<'PY'
# each sentence translated alone in this process: the latency a 1-client request should approach
import json, statistics, sys, time
from nmt.translator import Translator
t = Translator.from_pretrained(sys.argv[1], threads=2)
lines = open(sys.argv[2], encoding="utf-8").read().splitlines()[:200]
t.translate(lines[:5])
ms = []
for line in lines:
    start = time.perf_counter(); t.translate([line]); ms.append(1000 * (time.perf_counter() - start))
q = statistics.quantiles(ms, n=100)
print(json.dumps({"sentences": len(ms), "p50_ms": q[49], "p95_ms": q[94], "p99_ms": q[98]}))
PY
nmt serve -m $M --port 8772 --threads 2 > $O/speed_server.log 2>&1 & SERVER=$!
for i in $(seq 120); do curl -sf localhost:8772/health >/dev/null && break; sleep 1; done
for s in tat flo; do
  n=$(wc -l < $O/$s.en)
  python tools/load_test.py clients --url http://127.0.0.1:8772 --input $O/$s.en --reference $O/$s.ref.es \
    --clients 1,8,32 --requests $n --max-seconds 600 --json $O/$s.load.json
done
kill -TERM $SERVER; wait $SERVER || true
echo serve-speed-done
