"""The source encoder: embeddings and a (bi)directional multi-layer RNN over packed sequences."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.model.cells import RecurrentState, make_rnn
from nmt.model.dropout import Dropout


class RecurrentEncoder(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        emb_size: int,
        hidden_size: int,
        num_layers: int,
        cell: str,
        bidirectional: bool,
        dropout: float,
        pad_id: int,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb_size, padding_idx=pad_id)
        self.dropout = Dropout(dropout)
        self.rnn = make_rnn(cell, emb_size, hidden_size, num_layers, dropout, bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.num_directions

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, RecurrentState]:
        """Encode (batch, src_len) ids.

        Returns the memory (batch, src_len, output_size), zero on padding, and the final state of
        the top layer with both directions concatenated: (batch, output_size), a pair for LSTM.
        """
        embedded = self.dropout(self.embed(src))  # (batch, src_len, emb)
        packed = pack_padded_sequence(
            embedded, src_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        packed_out, final = self.rnn(packed)
        memory, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.size(1))
        if isinstance(final, tuple):
            return memory, (self._top_layer(final[0]), self._top_layer(final[1]))
        return memory, self._top_layer(final)

    def _top_layer(self, final: Tensor) -> Tensor:
        # (layers * directions, batch, hidden) -> (batch, directions * hidden)
        top = final[-self.num_directions :]
        return torch.cat(list(top), dim=-1)
