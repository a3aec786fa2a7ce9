"""The recurrent cell choice shared by encoder and decoder: GRU, LSTM or a plain tanh RNN."""

from __future__ import annotations

from torch import Tensor, nn

RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}

# For GRU and RNN a recurrent state is one tensor; for LSTM it is the pair (h, c).
RecurrentState = Tensor | tuple[Tensor, Tensor]


def make_rnn(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    dropout: float,
    bidirectional: bool = False,
) -> nn.RNNBase:
    """A batch-first multi-layer RNN; ``dropout`` applies between stacked layers only."""
    if cell not in RNN_CLASSES:
        raise ValueError(f"unknown cell '{cell}' (choose from {', '.join(RNN_CLASSES)})")
    return RNN_CLASSES[cell](
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
    )
