"""Two 1-thread processes translating alternate 2,000-line chunks of tatoeba/test (int8, the base
model): each with its own copy of the model (loaded after the fork) or sharing the parent's pages
(loaded before it). Is the workers' loss beside each other a matter of duplicated weights?"""
import os, sys, time
import torch
torch.set_num_threads(1)
from nmt.translator import Translator
from nmt.textio import read_lines
mode = sys.argv[1]
M = "/work/exp/base/model"
lines = read_lines("/work/shared/data/en-es/tatoeba/test.en")
chunks = [lines[i:i + 2000] for i in range(0, len(lines), 2000)]
shared = Translator.from_pretrained(M, threads=1, precision="int8") if mode == "fork" else None
start = time.time()
pids = []
for w in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        t0 = time.time()
        t = shared or Translator.from_pretrained(M, threads=1, precision="int8")
        t1 = time.time()
        for c in chunks[w::int(sys.argv[2])]:
            t.translate(c)
        print(f"{mode} worker {w}: load {t1-t0:.2f} s, translate {time.time()-t1:.2f} s", flush=True)
        os._exit(0)
    pids.append(pid)
for p in pids:
    os.waitpid(p, 0)
print(mode, f"{time.time()-start:.2f} s")
