"""Int8 weights for faster translation on a CPU (dynamic quantization).

The matrix products of a decoding step (output layer, GRU/LSTM layers, attention query and the
attentional layer) run on int8 weights, with each call's activations quantized on the fly, in
PyTorch's fbgemm kernels. On this project's AVX512-VNNI CPU the output layer of a beam step (320 x
512 x 8,000) ran 4x faster than in fp32; that and the BLEU of both on the same sentences are in
``docs/experiments/decoding-speed.md``. It is for inference only: training and checkpoints keep
float weights, and a quantized copy is made when a translator is loaded with ``precision="int8"``.

PyTorch marks this eager API (``torch.ao.quantization.quantize_dynamic``) deprecated in favour of
torchao; torchao 0.18's eager int8 linear measured 2.6x slower than it on the same product, so we
keep PyTorch's kernels and silence the deprecation warnings here.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig
from torch.ao.quantization import quantize_dynamic as _quantize_dynamic

from nmt.config import TRANSLATION_PRECISIONS
from nmt.model import Seq2Seq

# Linear layers that stay in float: the Bahdanau energy layer has one output, so quantizing its
# (rows x src_len x 512) input would cost more than the product it speeds up.
_KEEP_FLOAT = ("energy_layer",)


def quantize_int8(model: Seq2Seq) -> Seq2Seq:
    """A copy of ``model`` whose linear and GRU/LSTM layers use dynamic int8 quantization.

    Plain tanh RNN layers stay in float (PyTorch has no quantized kernel for them). Weights are
    quantized per output row for linear layers and per tensor for recurrent ones.
    """
    spec: dict[str, object] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not name.endswith(_KEEP_FLOAT):
            spec[name] = per_channel_dynamic_qconfig
        elif isinstance(module, (nn.GRU, nn.LSTM)):
            spec[name] = default_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = _quantize_dynamic(model.cpu().eval(), spec, dtype=torch.qint8, inplace=False)
    return quantized


def apply_precision(model: Seq2Seq, precision: str, device: torch.device) -> Seq2Seq:
    """``model`` as it should run for ``precision`` ("fp32" or "int8", the latter CPU only)."""
    if precision not in TRANSLATION_PRECISIONS:
        raise ValueError(
            f"unknown precision '{precision}' (choose from {', '.join(TRANSLATION_PRECISIONS)})"
        )
    if precision == "fp32":
        return model
    if device.type != "cpu":
        raise ValueError(f"int8 translation runs on the CPU only, not on {device}")
    return quantize_int8(model)
