import json, re
O = "/work/exp/m29/sl_speed"
def sec(p): return float(open(p).read().split()[0])
def score(p): return {x["name"]: x["score"] for x in json.load(open(p))}
print("| decoding (beam 5) | flores/dev BLEU | chrF | time | newstest2012 BLEU | chrF | time |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
base = {}
for name, label, ref in [("fp32", "fp32", None), ("fp32_short", "fp32 + shortlist", "fp32"),
                         ("fp32_large_short", "fp32 + larger shortlist", "fp32"),
                         ("int8", "int8", None), ("int8_short", "int8 + shortlist", "int8"),
                         ("int8_large_short", "int8 + larger shortlist", "int8")]:
    cells = []
    for s in ("flores_dev", "wmt_newstest2012"):
        try:
            sc = score(f"{O}/{name}.{s}.es.json"); t = sec(f"{O}/{name}.{s}.es.time")
        except FileNotFoundError:
            cells += ["", "", ""]; continue
        base.setdefault((name, s), (sc, t))
        if ref:
            r, rt = base[(ref, s)]
            cells += [f"{sc['bleu']:.2f} ({sc['bleu']-r['bleu']:+.2f})", f"{sc['chrf']:.2f} ({sc['chrf']-r['chrf']:+.2f})", f"{t:.1f} s ({rt/t:.2f}×)"]
        else:
            cells += [f"{sc['bleu']:.2f}", f"{sc['chrf']:.2f}", f"{t:.1f} s"]
    print(f"| {label} | " + " | ".join(cells) + " |")
