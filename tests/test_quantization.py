"""Int8 translation: quantized copies that keep what a float model learnt, through every entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nmt.cli import main
from nmt.decoding import DecodingConfig
from nmt.errors import NMTError
from nmt.model import build_model
from nmt.quantization import apply_precision, quantize_int8
from nmt.search import Search
from nmt.translator import Translator
from tests.test_model import VOCAB, reversal_batch, tiny_config


def trained_reverser(cell: str) -> nn.Module:
    """A tiny model that has learnt to reverse one batch of sequences (>= 99% of its tokens)."""
    torch.manual_seed(0)
    src, lengths, tgt_in, tgt_out, tgt_lengths = reversal_batch(torch.Generator().manual_seed(0))
    model = build_model(tiny_config(cell=cell), VOCAB, VOCAB)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        loss, tokens, correct = model(src, lengths, tgt_in, tgt_out, tgt_lengths)
        if correct / tokens >= 0.99:
            break
        optimizer.zero_grad()
        (loss / tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()


def reversed_share(hypotheses: list, src: torch.Tensor, lengths: torch.Tensor) -> float:
    """Share of sentences whose output is exactly the reversed source."""
    right = 0
    for hypothesis, row, length in zip(hypotheses, src, lengths.tolist(), strict=True):
        right += hypothesis.tokens == row[:length].flip(0).tolist()
    return right / len(hypotheses)


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_int8_model_still_reverses(cell: str) -> None:
    model = trained_reverser(cell)
    src, lengths, *_ = reversal_batch(torch.Generator().manual_seed(0))
    quantized = quantize_int8(model)
    greedy = Search(DecodingConfig(beam_size=1, max_len_a=1.0, max_len_b=2))
    float_greedy = greedy.greedy(model, src, lengths)
    int8_greedy = greedy.greedy(quantized, src, lengths)
    assert reversed_share(float_greedy, src, lengths) >= 0.9
    assert (
        reversed_share(int8_greedy, src, lengths)
        >= reversed_share(float_greedy, src, lengths) - 0.05
    )
    beam = Search(DecodingConfig(beam_size=4, max_len_a=1.0, max_len_b=2))
    int8_beam = [n_best[0] for n_best in beam(quantized, src, lengths)]
    assert reversed_share(int8_beam, src, lengths) >= 0.85
    # the float model is left as it was: quantization works on a copy
    assert type(model.output_layer) is nn.Linear


def test_int8_quantizes_the_products_of_a_step_and_keeps_the_energy_layer_float() -> None:
    quantized = quantize_int8(build_model(tiny_config(cell="gru"), VOCAB, VOCAB))
    dynamic = torch.ao.nn.quantized.dynamic
    assert isinstance(quantized.output_layer, dynamic.Linear)
    assert isinstance(quantized.decoder.combine, dynamic.Linear)
    assert isinstance(quantized.decoder.attention.query_layer, dynamic.Linear)
    assert isinstance(quantized.decoder.rnn, dynamic.GRU)
    assert isinstance(quantized.encoder.rnn, dynamic.GRU)
    assert type(quantized.decoder.attention.energy_layer) is nn.Linear
    assert type(quantize_int8(build_model(tiny_config(cell="rnn"), VOCAB, VOCAB)).decoder.rnn) is (
        nn.RNN
    )


def test_precision_is_checked() -> None:
    model = build_model(tiny_config(), VOCAB, VOCAB)
    assert apply_precision(model, "fp32", torch.device("cpu")) is model
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        apply_precision(model, "int4", torch.device("cpu"))
    with pytest.raises(ValueError, match="CPU only"):
        apply_precision(model, "int8", torch.device("cuda"))


def test_int8_translator_and_cli_keep_every_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    lines = ["Tom is here.", "", "I like apples very much.", "Where is the station?"]
    float_translator = Translator.from_pretrained(tiny_model_dir)
    int8_translator = Translator.from_pretrained(tiny_model_dir, precision="int8")
    assert isinstance(int8_translator.model.output_layer, torch.ao.nn.quantized.dynamic.Linear)
    outputs = int8_translator.translate(lines)
    assert len(outputs) == len(lines) and outputs[1] == ""
    assert all(outputs[i] for i in (0, 2, 3))
    assert len(float_translator.translate(lines)) == len(lines)
    with pytest.raises(NMTError, match="CPU only"):
        Translator.from_pretrained(tiny_model_dir, device="cuda", precision="int8")

    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(
        [
            "translate",
            "-m",
            str(tiny_model_dir),
            "-i",
            str(source),
            "-o",
            str(target),
            "--precision",
            "int8",
        ]
    )
    assert code == 0
    assert target.read_text(encoding="utf-8").split("\n")[:-1] == outputs
