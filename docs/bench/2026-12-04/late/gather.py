"""Greedy / beam 5, int8, 500 Tatoeba lines, reference model: no shortlist, shortlist packing
the rows, shortlist gathering the columns of the whole product; median of 7, 2 threads."""
import statistics, sys, time
import nmt.shortlist as sl
from nmt.translator import Translator
from nmt.textio import read_lines
t = Translator.from_pretrained("/work/main/exp/reference/model", threads=2, precision="int8")
lines = read_lines("/tmp/peers_work/data/test.raw.src")[:500]
for beam in (1, 5):
    kw = dict(beam_size=beam, batch_size=64, max_len_a=0.0, max_len_b=100, length_penalty=1.0)
    t.translate(lines[:64], **kw)
    times = {"none": [], "rows": [], "columns": []}
    outs = {}
    for _ in range(7):
        for name in times:
            sl.GATHER_INT8 = name == "columns"
            s = time.perf_counter()
            out = t.translate_hypotheses(lines, shortlist=name != "none", **kw)
            times[name].append(time.perf_counter() - s)
            outs[name] = [(o[0].text, o[0].score) for o in out]
    n = sum(len(o[0].tokens) for o in t.translate_hypotheses(lines, **kw))
    print(f"beam {beam}: same rows/columns output: {outs['rows'] == outs['columns']}")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:8s} median {m:.3f} s  ({n/m:,.0f} tok/s of the no-shortlist output)  {['%.3f' % x for x in ts]}")
