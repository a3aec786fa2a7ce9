#!/usr/bin/env bash
# issue 31: 5,000 requests of 0-50 random lines (empty and hostile ones included) against a
# server with the tiny test model; every answer checked against nmt translate's.
set -euo pipefail
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1
O=/work/exp/serve; M=$O/tiny
head -2000 /work/shared/data/en-es/tatoeba/test.en > $O/rand.en
nmt translate -m $M -i $O/rand.en -o $O/rand.ref.es --threads 1
nmt serve -m $M --port 8771 --threads 1 > $O/random_server.log 2>&1 & SERVER=$!
for i in $(seq 60); do curl -sf localhost:8771/health >/dev/null && break; sleep 1; done
python tools/load_test.py random --url http://127.0.0.1:8771 --input $O/rand.en --reference $O/rand.ref.es \
  --requests 5000 --max-seconds 3000 --json $O/random.json
kill -TERM $SERVER; wait $SERVER || true
