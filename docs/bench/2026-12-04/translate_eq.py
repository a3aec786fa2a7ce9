"""Dump translations under many decoding settings, for a before/after comparison."""
import json
import sys

from nmt.translator import Translator

model, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 150
lines = open("/work/shared/data/en-es/flores/dev.en").read().splitlines()[:n] + ["", "  ", "Hello."]
t = Translator.from_pretrained(model, threads=1)
res = {}
for beam in (1, 4):
    hyps = t.translate_hypotheses(lines, beam_size=beam, n_best=min(beam, 3))
    res[f"beam{beam}"] = [[(h.text, round(h.score, 4)) for h in nb] for nb in hyps]
res["mbr"] = t.translate(lines[:40], beam_size=4, mbr=True)
res["mbr_samples"] = t.translate(lines[:40], beam_size=4, mbr=True, mbr_samples=5)
res["rules"] = t.translate(lines[:60], beam_size=3, no_repeat_ngram=3, min_len_a=0.5, coverage_penalty=0.2, length_penalty=0.6)
res["greedy_rules"] = t.translate(lines[:60], beam_size=1, no_repeat_ngram=2, min_len_a=0.8, max_len_a=1.0, max_len_b=3)
res["split"] = t.translate(lines[:60], beam_size=2, split_sentences=True, batch_size=7)
json.dump(res, open(out, "w"), ensure_ascii=False, indent=0)
