"""Pictures of a model (``nmt plot``): its training curves, and its attention over a sentence pair.

matplotlib is the optional ``plot`` extra (``pip install 'nmt[plot]'``) and is imported only when
a picture is drawn, so that nmt installs and runs without it; model code only for the attention,
so that plotting a training log loads no torch.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmt.errors import NMTError

if TYPE_CHECKING:
    import torch

    from nmt.translator import Translator

PLOT_EXTRA_HINT = "pip install 'nmt[plot]'"


def load_pyplot() -> Any:
    """matplotlib.pyplot, drawing to files only (no display needed), or a one-line error."""
    try:
        import matplotlib
    except ImportError:
        raise NMTError(
            f"plotting needs matplotlib, which is not installed: {PLOT_EXTRA_HINT}"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)


# ---- training curves ----------------------------------------------------------------------------


def read_log(path: str | Path) -> tuple[list[dict], list[dict]]:
    """The ``train`` and ``valid`` records of a ``train_log.jsonl``, sorted by step.

    A resumed run logs again the steps after its checkpoint: the last record of a step wins. A
    line that is not JSON (a run killed mid-write leaves a partial last line) is skipped with a
    warning naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise NMTError(
            f"{path}: training log not found (nmt train writes it into the model directory)"
        )
    train: dict[int, dict] = {}
    valid: dict[int, dict] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                warnings.warn(f"{path}:{number}: not JSON, skipped", stacklevel=2)
                continue
            if record.get("event") == "train":
                train[record["step"]] = record
            elif record.get("event") == "valid":
                valid[record["step"]] = record
    return [train[s] for s in sorted(train)], [valid[s] for s in sorted(valid)]


def plot_training(log: str | Path, output: str | Path, title: str) -> tuple[int, int]:
    """Draw ``log`` into the PNG ``output``: the training and validation loss above, validation
    BLEU and chrF below, against steps. Returns the numbers of training and validation points."""
    train, valid = read_log(log)
    if not train and not valid:
        raise NMTError(f"{log} has no train or valid records to plot")
    plt = load_pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 6.5))
    # training loss: per log window, label-smoothed; validation loss: without smoothing
    top.plot([r["step"] for r in train], [r["loss"] for r in train], label="training loss")
    scored = [r for r in valid if "loss" in r]
    top.plot(
        [r["step"] for r in scored], [r["loss"] for r in scored], "o-", label="validation loss"
    )
    top.set_ylabel("loss per target token")
    top.legend()
    top.grid(alpha=0.3)
    for metric, label in (("bleu", "validation BLEU"), ("chrf", "validation chrF")):
        points = [r for r in valid if metric in r]
        if points:
            bottom.plot([r["step"] for r in points], [r[metric] for r in points], "o-", label=label)
    bottom.set_xlabel("step")
    bottom.set_ylabel("score")
    bottom.grid(alpha=0.3)
    if bottom.lines:
        bottom.legend()
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, Path(output))
    plt.close(figure)
    return len(train), len(valid)


# ---- attention ----------------------------------------------------------------------------------


@dataclass
class Alignment:
    """The attention of one sentence pair, as SentencePiece splits it (``▁`` starts a word)."""

    src_pieces: list[str]
    tgt_pieces: list[str]
    weights: torch.Tensor  # (len(tgt_pieces), len(src_pieces)): what target piece t gave piece s
    score: float  # forced: summed log-probability (EOS included); searched: the search's score


def searched_attention(
    translator: Translator, source: str, beam_size: int | None = None
) -> Alignment:
    """The attention of the model's best translation of ``source`` (its decoding settings,
    unless ``beam_size`` is given)."""
    options = {} if beam_size is None else {"beam_size": beam_size}
    best = translator.translate_hypotheses([source], **options)[0][0]
    pieces = translator.tokenizer.tgt_id_pieces(best.tokens)
    return Alignment(best.src_pieces, pieces, best.attention, best.score)


def forced_attention(translator: Translator, source: str, target: str) -> Alignment:
    """The attention of the model while it scores ``target`` as the translation of ``source``
    (forced decoding, :func:`nmt.scoring.forced_decode`: each step is fed the previous piece of
    ``target``)."""
    from nmt.scoring import forced_decode

    tokenizer = translator.tokenizer
    src_ids = tokenizer.encode_src([source.strip()])[0]
    tgt_ids = tokenizer.encode_tgt([target.strip()])[0]
    if not src_ids or not tgt_ids:
        raise NMTError("the source and the target sentence must not be empty")
    (log_probs,), (weights,) = forced_decode(
        translator.model, [src_ids], [tgt_ids], translator.device, with_attention=True
    )  # weights: (target pieces + EOS, source pieces)
    return Alignment(
        tokenizer.src_pieces([source.strip()])[0],
        tokenizer.tgt_id_pieces(tgt_ids),
        weights[:-1],  # the EOS step's row is left out, as in search output
        sum(log_probs),
    )


def plot_attention(alignment: Alignment, output: str | Path, title: str) -> None:
    """Draw ``alignment`` as a heatmap PNG: target pieces down, source pieces across."""
    plt = load_pyplot()
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
    _save(figure, Path(output))
    plt.close(figure)
