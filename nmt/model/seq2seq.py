"""The whole translation model: encoder, bridge, attention decoder and output layer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nmt.config import ModelConfig
from nmt.constants import PAD_ID
from nmt.model.cells import RecurrentState
from nmt.model.decoder import DecoderState, EncoderOutput, RecurrentDecoder
from nmt.model.encoder import RecurrentEncoder
from nmt.model.loss import copy_cross_entropy, copy_log_probs, smoothed_cross_entropy


class Bridge(nn.Module):
    """Turns the encoder's final state (batch, enc_out) into the decoder's initial state."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, lstm: bool) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.hidden = nn.Linear(input_size, hidden_size * num_layers)
        self.cell = nn.Linear(input_size, hidden_size * num_layers) if lstm else None

    def _project(self, layer: nn.Linear, final: Tensor) -> Tensor:
        state = torch.tanh(layer(final))  # (batch, layers * hidden)
        return state.view(final.size(0), self.num_layers, -1).transpose(0, 1).contiguous()

    def forward(self, final: RecurrentState) -> RecurrentState:
        if self.cell is None:
            assert isinstance(final, Tensor)
            return self._project(self.hidden, final)
        h, c = final
        return self._project(self.hidden, h), self._project(self.cell, c)


class Seq2Seq(nn.Module):
    def __init__(self, config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.encoder = RecurrentEncoder(
            src_vocab_size,
            config.emb_size,
            config.encoder_hidden,
            config.encoder_layers,
            config.cell,
            config.bidirectional,
            config.dropout,
            PAD_ID,
        )
        self.bridge = Bridge(
            self.encoder.output_size,
            config.decoder_hidden,
            config.decoder_layers,
            lstm=config.cell == "lstm",
        )
        self.decoder = RecurrentDecoder(
            tgt_vocab_size,
            config.emb_size,
            config.decoder_hidden,
            config.decoder_layers,
            config.cell,
            self.encoder.output_size,
            config.attention,
            input_feeding=config.decoder == "input_feeding",
            dropout=config.dropout,
            pad_id=PAD_ID,
            attention_size=config.attention_size,
        )
        self.output_layer = nn.Linear(config.decoder_hidden, tgt_vocab_size)
        # copy attention: the probability of generating from the vocabulary, not copying
        self.copy_gate = nn.Linear(config.decoder_hidden, 1) if config.copy_attention else None
        self.reset_parameters()
        if config.copy_attention and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"copy_attention needs one joint vocabulary; the source has {src_vocab_size} "
                f"pieces, the target {tgt_vocab_size}"
            )
        if config.share_embeddings:
            if src_vocab_size != tgt_vocab_size:
                raise ValueError(
                    f"share_embeddings needs one joint vocabulary; the source has "
                    f"{src_vocab_size} pieces, the target {tgt_vocab_size}"
                )
            self.decoder.embed.weight = self.encoder.embed.weight
        if config.tie_embeddings:
            if config.emb_size != config.decoder_hidden:
                raise ValueError(
                    f"tie_embeddings needs emb_size ({config.emb_size}) == decoder_hidden "
                    f"({config.decoder_hidden})"
                )
            self.output_layer.weight = self.decoder.embed.weight

    def reset_parameters(self) -> None:
        """Uniform in +-0.1, the classic RNN-NMT initialisation; padding embeddings stay zero."""
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -0.1, 0.1)
        for embed in (self.encoder.embed, self.decoder.embed):
            with torch.no_grad():
                embed.weight[PAD_ID].zero_()

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[EncoderOutput, DecoderState]:
        """Encode (batch, src_len) ids; returns what the decoder reads and its initial state."""
        memory, final = self.encoder(src, src_lengths)
        keys = self.decoder.attention.project_keys(memory)
        encoded = EncoderOutput(memory, keys, src != PAD_ID, src)
        hidden = self.bridge(final)
        feed = None
        if self.decoder.input_feeding:
            feed = memory.new_zeros(src.size(0), self.config.decoder_hidden)
        return encoded, DecoderState(hidden, feed)

    def _decode(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, tgt_lengths: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Teacher-forced attentional vectors and attention weights (batch, tgt_len, src_len)."""
        encoded, state = self.encode(src, src_lengths)
        return self.decoder(tgt_in, tgt_lengths, encoded, state)

    def _log_probs(self, vectors: Tensor, weights: Tensor, src: Tensor) -> Tensor:
        """(rows, vocab) log-probabilities from attentional vectors, with copying if enabled."""
        logits = self.output_layer(vectors)
        if self.copy_gate is None:
            return torch.log_softmax(logits, dim=-1)
        return copy_log_probs(logits, self.copy_gate(vectors), weights, src)

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        tgt_out: Tensor,
        tgt_lengths: Tensor,
        label_smoothing: float = 0.0,
    ) -> tuple[Tensor, int, int]:
        """Summed cross entropy over real target tokens, their count, and how many were argmax-right.

        The output layer, the largest matrix product of a step, runs only on non-padding positions.
        """
        vectors, weights = self._decode(src, src_lengths, tgt_in, tgt_lengths)
        real = tgt_out != PAD_ID  # (batch, tgt_len)
        gold = tgt_out[real]
        vectors = vectors[real]
        logits = self.output_layer(vectors)  # (n_tokens, vocab)
        if self.copy_gate is None:
            loss, correct = smoothed_cross_entropy(logits, gold, label_smoothing)
        else:
            rows_src = src.unsqueeze(1).expand(-1, tgt_out.size(1), -1)[real]  # (n_tokens, src_len)
            gate_logits = self.copy_gate(vectors)
            loss, correct = copy_cross_entropy(
                logits, gate_logits, weights[real], rows_src, gold, label_smoothing
            )
        return loss, int(gold.numel()), int(correct)

    def step(
        self, prev_tokens: Tensor, encoded: EncoderOutput, state: DecoderState
    ) -> tuple[Tensor, Tensor, DecoderState]:
        """One search step: (batch,) previous tokens -> log-probs (batch, vocab), weights, state."""
        vector, weights, state = self.decoder.step(prev_tokens, encoded, state)
        src = encoded.src
        if self.copy_gate is not None and weights.size(0) != src.size(0):
            # beam search: each sentence's hypotheses sit in consecutive rows
            src = src.repeat_interleave(weights.size(0) // src.size(0), dim=0)
        return self._log_probs(vector, weights, src), weights, state


def build_model(config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
    return Seq2Seq(config, src_vocab_size, tgt_vocab_size)
