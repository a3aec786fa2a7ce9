"""Dump translations under many decoding settings, for a before/after comparison (int8 too)."""
import json
import sys

from nmt.translator import Translator

model, out, precision = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 150
lines = open("/work/shared/data/en-es/flores/dev.en").read().splitlines()[:n] + ["", "  ", "Hello."]
t = Translator.from_pretrained(model, threads=2, precision=precision)
res = {}
for beam in (1, 5):
    hyps = t.translate_hypotheses(lines, beam_size=beam, n_best=min(beam, 3))
    res[f"beam{beam}"] = [[(h.text, round(h.score, 5)) for h in nb] for nb in hyps]
    hyps = t.translate_hypotheses(lines, beam_size=beam, shortlist=True)
    res[f"beam{beam}_shortlist"] = [[(h.text, round(h.score, 5)) for h in nb] for nb in hyps]
res["mbr_samples"] = t.translate(lines[:40], beam_size=4, mbr=True, mbr_samples=5)
res["sample_topk"] = t.translate(lines[:40], sampling="topk", sampling_topk=5, seed=3)
res["sample_topp"] = t.translate(lines[:40], sampling="topp", sampling_topp=0.8, temperature=0.7)
res["rules"] = t.translate(lines[:60], beam_size=3, no_repeat_ngram=3, min_len_a=0.5, coverage_penalty=0.2, length_penalty=0.6)
res["greedy_rules"] = t.translate(lines[:60], beam_size=1, no_repeat_ngram=2, min_len_a=0.8, max_len_a=1.0, max_len_b=3)
json.dump(res, open(out, "w"), ensure_ascii=False, indent=0)
