"""The source encoder: embeddings and a (bi)directional multi-layer RNN over packed sequences."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.model.cells import RecurrentState, make_rnn
from nmt.model.dropout import Dropout

# The fused multi-step functions behind nn.GRU / nn.RNN, called one layer and direction at a time.
_LAYER_FUNCTIONS = {nn.GRU: torch.gru, nn.RNN: torch.rnn_tanh}


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
        if self.training and embedded.device.type == "cpu" and type(self.rnn) in _LAYER_FUNCTIONS:
            return self._forward_padded(embedded, src_lengths)
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

    def _forward_padded(self, embedded: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """The packed pass's results, computed on the padded batch, for training.

        On the CPU, the backward pass of a packed RNN slices its input once per time step, and
        each slice's gradient is a zero-filled tensor of the whole input: quadratic in the length
        (a third of a news batch's training step). On a padded batch the RNN precomputes its input
        products and steps through views, linear in the length. Padding must not reach the real
        positions, so each backward direction reads every sentence reversed within its own length;
        a GRU's or plain RNN's output is its state, so the final states are read off the outputs
        (an LSTM's cell state is not, so LSTMs stay packed). CUDA's packed RNN has no such cost.
        """
        batch, length, _ = embedded.shape
        lengths = lengths.to(embedded.device)
        positions = torch.arange(length, device=embedded.device).expand(batch, length)
        real = positions < lengths.unsqueeze(1)  # (batch, src_len)
        # position t of sentence b reversed: lengths[b] - 1 - t on real tokens, padding stays put
        reverse = torch.where(real, lengths.unsqueeze(1) - 1 - positions, positions)
        last = (lengths - 1).view(batch, 1, 1)
        rnn, layer_input = self.rnn, embedded
        finals: list[Tensor] = []
        for layer in range(rnn.num_layers):
            if layer > 0:
                layer_input = F.dropout(layer_input, rnn.dropout, self.training)
            outputs = []
            for direction in range(self.num_directions):
                backward = direction == 1
                x = _reorder(layer_input, reverse) if backward else layer_input
                out = self._run_layer(x, layer, backward)  # (batch, src_len, hidden)
                if layer == rnn.num_layers - 1:  # only the top layer's final states are returned
                    finals.append(out.gather(1, last.expand(-1, 1, out.size(2))).squeeze(1))
                outputs.append(_reorder(out, reverse) if backward else out)
            layer_input = torch.cat(outputs, dim=-1)
        memory = layer_input * real.unsqueeze(-1).to(layer_input.dtype)
        return memory, torch.cat(finals, dim=-1)

    def _run_layer(self, x: Tensor, layer: int, backward: bool) -> Tensor:
        suffix = f"_l{layer}" + ("_reverse" if backward else "")
        rnn = self.rnn
        weights = [getattr(rnn, name + suffix) for name in ("weight_ih", "weight_hh")]
        if rnn.bias:
            weights += [getattr(rnn, name + suffix) for name in ("bias_ih", "bias_hh")]
        initial = x.new_zeros(1, x.size(0), rnn.hidden_size)
        run = _LAYER_FUNCTIONS[type(rnn)]
        output, _ = run(x, initial, weights, rnn.bias, 1, 0.0, self.training, False, True)
        return output


def _reorder(x: Tensor, index: Tensor) -> Tensor:
    """x[b, index[b, t]] for (batch, len, features) x and (batch, len) index."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(2)))
