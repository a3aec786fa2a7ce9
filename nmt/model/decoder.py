"""The attention decoder, in two variants that share one set of weights and one ``step``.

* input feeding (Luong et al., 2015): the attentional vector of step t-1 is fed back as input at
  step t, so training walks the target one step at a time.
* fused: no input feeding, so under teacher forcing the RNN runs over the whole target in one
  call and attention scores all target positions in one batched operation.

Both produce attentional vectors ``tanh(W [h; context])``; the output layer that turns them into
logits is applied by the caller, only on real (non-padding) target positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from nmt.model.attention import build_attention
from nmt.model.cells import RecurrentState, make_rnn
from nmt.model.dropout import Dropout


@dataclass
class EncoderOutput:
    """What every decoder step reads: the memory, its precomputed keys and the padding mask."""

    memory: Tensor  # (batch, src_len, memory_size)
    keys: Tensor  # (batch, src_len, key_size)
    mask: Tensor  # (batch, src_len), True on real tokens
    src: Tensor  # (batch, src_len) the source ids, for copy attention

    def select(self, index: Tensor) -> EncoderOutput:
        """Rows ``index`` (the sentences still being searched), gathered."""
        return EncoderOutput(
            self.memory.index_select(0, index),
            self.keys.index_select(0, index),
            self.mask.index_select(0, index),
            self.src.index_select(0, index),
        )


@dataclass
class DecoderState:
    hidden: RecurrentState  # (layers, batch, hidden), or the (h, c) pair for LSTM
    feed: Tensor | None  # (batch, hidden): last attentional vector, with input feeding only

    def select(self, index: Tensor) -> DecoderState:
        if isinstance(self.hidden, tuple):
            hidden: RecurrentState = tuple(h.index_select(1, index) for h in self.hidden)
        else:
            hidden = self.hidden.index_select(1, index)
        feed = None if self.feed is None else self.feed.index_select(0, index)
        return DecoderState(hidden, feed)


class RecurrentDecoder(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        emb_size: int,
        hidden_size: int,
        num_layers: int,
        cell: str,
        memory_size: int,
        attention: str,
        input_feeding: bool,
        dropout: float,
        pad_id: int,
        attention_size: int = 0,
    ) -> None:
        super().__init__()
        self.input_feeding = input_feeding
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, emb_size, padding_idx=pad_id)
        self.dropout = Dropout(dropout)
        rnn_input = emb_size + (hidden_size if input_feeding else 0)
        self.rnn = make_rnn(cell, rnn_input, hidden_size, num_layers, dropout)
        self.attention = build_attention(attention, hidden_size, memory_size, attention_size)
        self.combine = nn.Linear(hidden_size + memory_size, hidden_size)  # attentional layer

    def forward(
        self, tgt_in: Tensor, tgt_lengths: Tensor, encoded: EncoderOutput, state: DecoderState
    ) -> tuple[Tensor, Tensor]:
        """Teacher-forced pass over (batch, tgt_len) inputs -> attentional vectors (batch,
        tgt_len, hidden) and attention weights (batch, tgt_len, src_len)."""
        embedded = self.dropout(self.embed(tgt_in))  # (batch, tgt_len, emb)
        if not self.input_feeding:
            return self._forward_fused(embedded, encoded, state)
        vectors, weights = [], []
        # unbind, not embedded[:, t]: a slice's gradient would be a zero-filled copy of the whole
        # input at every step
        for step_input in embedded.unbind(1):
            vector, step_weights, state = self._attend_step(step_input, encoded, state)
            vectors.append(vector)
            weights.append(step_weights)
        return torch.stack(vectors, dim=1), torch.stack(weights, dim=1)

    def _forward_fused(
        self, embedded: Tensor, encoded: EncoderOutput, state: DecoderState
    ) -> tuple[Tensor, Tensor]:
        # The RNN runs over the padded batch: left to right, padding comes after every real
        # position, so their outputs are those of a packed pass (and only they reach the loss).
        # On the CPU a packed backward pass is quadratic in the length (RecurrentEncoder explains).
        hidden, _ = self.rnn(embedded, state.hidden)  # (batch, tgt_len, hidden)
        # one attention call for every target position
        context, weights = self.attention(hidden, encoded.keys, encoded.memory, encoded.mask)
        return self._combine(hidden, context), weights

    def step(
        self, prev_tokens: Tensor, encoded: EncoderOutput, state: DecoderState
    ) -> tuple[Tensor, Tensor, DecoderState]:
        """One decoding step from (rows,) previous tokens.

        ``encoded`` has one row per sentence and ``rows`` is a multiple of its sentences: beam
        search keeps each sentence's hypotheses in consecutive rows (sentence-major) and they
        share the sentence's memory as separate attention queries, so the memory is never copied
        per hypothesis. Returns the attentional vector (rows, hidden), the attention weights
        (rows, src_len) and the new state.
        """
        return self._attend_step(self.embed(prev_tokens), encoded, state)

    def _attend_step(
        self, embedded: Tensor, encoded: EncoderOutput, state: DecoderState
    ) -> tuple[Tensor, Tensor, DecoderState]:
        rnn_input = embedded if state.feed is None else torch.cat([embedded, state.feed], dim=-1)
        output, hidden = self.rnn(rnn_input.unsqueeze(1), state.hidden)  # output (rows, 1, hidden)
        rows, sentences = output.size(0), encoded.memory.size(0)
        # (sentences, rows per sentence, hidden): a sentence's beams query its memory together
        query = output.view(sentences, rows // sentences, -1)
        context, weights = self.attention(query, encoded.keys, encoded.memory, encoded.mask)
        vector = self._combine(output, context.view(rows, 1, -1)).squeeze(1)  # (rows, hidden)
        feed = vector if self.input_feeding else None
        return vector, weights.view(rows, -1), DecoderState(hidden, feed)

    def _combine(self, hidden: Tensor, context: Tensor) -> Tensor:
        """The attentional vector tanh(W [h; c]), dropout on its input."""
        return torch.tanh(self.combine(self.dropout(torch.cat([hidden, context], dim=-1))))
