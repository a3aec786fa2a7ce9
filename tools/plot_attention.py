#!/usr/bin/env python
"""Draw the attention of a trained model over one sentence pair as a PNG.

    python tools/plot_attention.py -m MODEL_DIR --src "The cat sleeps." -o attention.png
    python tools/plot_attention.py -m MODEL_DIR --src "The cat sleeps." \\
        --tgt "El gato duerme." -o attention.png

Without ``--tgt`` the model translates the sentence (beam search, the model's decoding settings)
and the matrix is that of its best translation; with ``--tgt`` the given translation is forced
(teacher forcing: each step is fed the previous reference piece). Rows are target pieces, columns
source pieces, as SentencePiece splits them (``▁`` starts a word); cell (t, s) is the weight that
target piece t gave source piece s. Needs matplotlib (``pip install -e '.[plot]'``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from nmt.errors import NMTError
from nmt.tokenizer import BOS_ID, EOS_ID
from nmt.translator import Translator


@dataclass
class Alignment:
    src_pieces: list[str]
    tgt_pieces: list[str]
    weights: torch.Tensor  # (len(tgt_pieces), len(src_pieces))
    score: float  # forced: summed log-probability (EOS included); searched: the search's score


def searched(translator: Translator, source: str, beam_size: int | None) -> Alignment:
    """The attention of the model's best translation of ``source``."""
    best = translator.translate_hypotheses([source], beam_size=beam_size)[0][0]
    pieces = translator.tokenizer.tgt_id_pieces(best.tokens)
    return Alignment(best.src_pieces, pieces, best.attention, best.score)


@torch.inference_mode()
def forced(translator: Translator, source: str, target: str) -> Alignment:
    """The attention of the model while it scores ``target`` as the translation of ``source``."""
    tokenizer, model = translator.tokenizer, translator.model
    src_ids = tokenizer.encode_src([source.strip()])[0]
    tgt_ids = tokenizer.encode_tgt([target.strip()])[0]
    if not src_ids or not tgt_ids:
        raise NMTError("--src and --tgt must not be empty")
    device = translator.device
    src = torch.tensor([src_ids], device=device)  # (1, src_len)
    encoded, state = model.encode(src, torch.tensor([len(src_ids)], device=device))
    rows, score, previous = [], 0.0, BOS_ID
    for token in [*tgt_ids, EOS_ID]:
        log_probs, weights, state = model.step(
            torch.tensor([previous], device=device), encoded, state
        )  # (1, vocab), (1, src_len)
        score += float(log_probs[0, token])
        rows.append(weights[0].cpu())
        previous = token
    return Alignment(
        tokenizer.src_pieces([source.strip()])[0],
        tokenizer.tgt_id_pieces(tgt_ids),
        torch.stack(rows[:-1]),  # the EOS step's row is left out, as in search output
        score,
    )


def draw(alignment: Alignment, output: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = alignment.weights.shape
    figure, axes = plt.subplots(figsize=(max(4.0, 0.35 * columns + 2), max(3.0, 0.35 * rows + 2)))
    image = axes.imshow(alignment.weights.float().numpy(), cmap="Greys", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(columns), alignment.src_pieces, rotation=90)
    axes.set_yticks(range(rows), alignment.tgt_pieces)
    axes.set_xlabel("source pieces")
    axes.set_ylabel("target pieces")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--model", required=True, metavar="MODEL_DIR")
    parser.add_argument("--checkpoint", metavar="FILE", help="weights instead of model.pt")
    parser.add_argument("--src", required=True, metavar="TEXT", help="the source sentence")
    parser.add_argument("--tgt", metavar="TEXT", help="a translation to force instead of searching")
    parser.add_argument("--beam-size", type=int, metavar="K", help="default: the model's")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PNG")
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            "plot_attention.py: error: needs matplotlib: pip install -e '.[plot]'", file=sys.stderr
        )
        return 2
    try:
        translator = Translator.from_pretrained(args.model, args.checkpoint)
        if not args.src.strip():
            raise NMTError("--src is empty")
        if args.tgt is None:
            alignment = searched(translator, args.src, args.beam_size)
            how = "searched"
        else:
            alignment = forced(translator, args.src, args.tgt)
            how = "forced"
    except NMTError as error:
        print(f"plot_attention.py: error: {error}", file=sys.stderr)
        return 2
    draw(alignment, args.output, f"{how} translation, score {alignment.score:.2f}")
    print(f"{args.output}: {len(alignment.tgt_pieces)} x {len(alignment.src_pieces)} attention")
    return 0


if __name__ == "__main__":
    sys.exit(main())
