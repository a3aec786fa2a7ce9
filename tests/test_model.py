"""The encoder-decoder learns, ignores padding, and its two decoder variants agree with `step`."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from nmt.config import MODEL_PRESETS, ModelConfig
from nmt.model import build_model
from nmt.model.loss import copy_cross_entropy, copy_log_probs, smoothed_cross_entropy
from nmt.model.seq2seq import Seq2Seq

BOS, EOS, PAD = 2, 3, 0
VOCAB = 16


# test oracles: teacher-forced decoding of whole targets, to hold the step-by-step search against


def decode_vectors(
    model: Seq2Seq, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, tgt_lengths: Tensor
) -> Tensor:
    """Teacher-forced attentional vectors (batch, tgt_len, decoder_hidden); no output layer."""
    encoded, state = model.encode(src, src_lengths)
    return model.decoder(tgt_in, tgt_lengths, encoded, state)[0]


def forced_log_probs(
    model: Seq2Seq, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, tgt_lengths: Tensor
) -> Tensor:
    """Teacher-forced log-probabilities (batch, tgt_len, vocab): what ``model.step`` gives."""
    encoded, state = model.encode(src, src_lengths)
    vectors, weights = model.decoder(tgt_in, tgt_lengths, encoded, state)
    batch, length = tgt_in.shape
    rows_src = src.unsqueeze(1).expand(batch, length, src.size(1)).reshape(batch * length, -1)
    log_probs = model._log_probs(
        vectors.reshape(batch * length, -1), weights.reshape(batch * length, -1), rows_src
    )
    return log_probs.view(batch, length, -1)


def tiny_config(**overrides) -> ModelConfig:
    return ModelConfig(**{**MODEL_PRESETS["tiny"], **overrides})


def reversal_batch(generator: torch.Generator, size: int = 64, max_len: int = 7):
    """Random sequences over ids 4..VOCAB-1 and their reversals, padded."""
    lengths = torch.randint(2, max_len + 1, (size,), generator=generator)
    src = torch.full((size, max_len), PAD)
    tgt_in = torch.full((size, max_len + 1), PAD)
    tgt_out = torch.full((size, max_len + 1), PAD)
    for row, length in enumerate(lengths.tolist()):
        tokens = torch.randint(4, VOCAB, (length,), generator=generator)
        src[row, :length] = tokens
        tgt_in[row, 0] = BOS
        tgt_in[row, 1 : length + 1] = tokens.flip(0)
        tgt_out[row, :length] = tokens.flip(0)
        tgt_out[row, length] = EOS
    return src, lengths, tgt_in, tgt_out, lengths + 1


def overfit_reversal(config: ModelConfig, max_steps: int) -> float:
    """Train on one fixed batch until it is learnt; return the token accuracy reached on it."""
    torch.manual_seed(0)
    batch = reversal_batch(torch.Generator().manual_seed(0))
    model = build_model(config, VOCAB, VOCAB)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    accuracy = 0.0
    for _ in range(max_steps):
        loss, tokens, correct = model(*batch)
        accuracy = correct / tokens
        if accuracy >= 0.99:
            break
        optimizer.zero_grad()
        (loss / tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return accuracy


@pytest.mark.parametrize(
    "cell,attention,fused",
    [
        ("gru", "bahdanau", False),
        ("lstm", "bahdanau", False),
        ("rnn", "bahdanau", False),
        ("gru", "dot", False),
        ("gru", "general", False),
        ("gru", "bahdanau", True),
        ("lstm", "general", True),
    ],
)
def test_tiny_model_overfits_reversal(cell: str, attention: str, fused: bool) -> None:
    config = tiny_config(
        cell=cell, attention=attention, decoder="fused" if fused else "input_feeding"
    )
    accuracy = overfit_reversal(config, max_steps=400)
    assert accuracy >= 0.99, f"{cell}/{attention}/fused={fused}: token accuracy {accuracy:.3f}"


def padded_example():
    generator = torch.Generator().manual_seed(3)
    return reversal_batch(generator, size=5, max_len=9)


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("attention", ["bahdanau", "dot", "general"])
@pytest.mark.parametrize("fused", [False, True])
def test_padding_does_not_change_logits(cell: str, attention: str, fused: bool) -> None:
    torch.manual_seed(1)
    config = tiny_config(
        cell=cell, attention=attention, decoder="fused" if fused else "input_feeding"
    )
    model = build_model(config, VOCAB, VOCAB).eval()
    src, src_lengths, tgt_in, _, tgt_lengths = padded_example()
    with torch.no_grad():
        batched = model.output_layer(decode_vectors(model, src, src_lengths, tgt_in, tgt_lengths))
        for row in range(src.size(0)):
            s, t = int(src_lengths[row]), int(tgt_lengths[row])
            alone = model.output_layer(
                decode_vectors(
                    model,
                    src[row : row + 1, :s],
                    src_lengths[row : row + 1],
                    tgt_in[row : row + 1, :t],
                    tgt_lengths[row : row + 1],
                )
            )
            torch.testing.assert_close(alone[0], batched[row, :t], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["gru", "rnn"])
@pytest.mark.parametrize("layers,bidirectional", [(1, True), (2, True), (2, False)])
def test_training_encoder_equals_the_packed_pass(
    cell: str, layers: int, bidirectional: bool
) -> None:
    """Training runs GRU/RNN encoders on the padded batch (faster backward on the CPU); the
    memory, final state and gradients must be those of the packed pass that evaluation runs."""
    torch.manual_seed(4)
    config = tiny_config(cell=cell, encoder_layers=layers, bidirectional=bidirectional, dropout=0.0)
    encoder = build_model(config, VOCAB, VOCAB).encoder.double()
    src, src_lengths, *_ = padded_example()
    src_lengths[1] = 1  # a one-token sentence
    src[1, 1:] = PAD
    results = []
    for training in (True, False):
        encoder.train(training)
        memory, final = encoder(src, src_lengths)
        loss = (memory * torch.linspace(-1, 1, memory.size(-1))).sum() + final.pow(2).sum()
        results.append((memory, final, torch.autograd.grad(loss, list(encoder.parameters()))))
    (memory, final, grads), (packed_memory, packed_final, packed_grads) = results
    torch.testing.assert_close(memory, packed_memory, atol=1e-12, rtol=0)
    torch.testing.assert_close(final, packed_final, atol=1e-12, rtol=0)
    assert (memory[src == PAD] == 0).all()
    for grad, packed_grad in zip(grads, packed_grads, strict=True):
        torch.testing.assert_close(grad, packed_grad, atol=1e-12, rtol=0)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_step_by_step_decoding_matches_teacher_forcing(cell: str, fused: bool) -> None:
    torch.manual_seed(2)
    config = tiny_config(cell=cell, decoder="fused" if fused else "input_feeding")
    model = build_model(config, VOCAB, VOCAB).eval()
    src, src_lengths, tgt_in, tgt_out, tgt_lengths = padded_example()
    with torch.no_grad():
        forced = torch.log_softmax(
            model.output_layer(decode_vectors(model, src, src_lengths, tgt_in, tgt_lengths)), -1
        )
        encoded, state = model.encode(src, src_lengths)
        for t in range(tgt_in.size(1)):
            log_probs, weights, state = model.step(tgt_in[:, t], encoded, state)
            real = tgt_out[:, t] != PAD
            torch.testing.assert_close(log_probs[real], forced[real, t], atol=1e-5, rtol=0)
            torch.testing.assert_close(weights.sum(-1), torch.ones(src.size(0)))
            assert (weights[src == PAD] == 0).all()


def test_tied_embeddings_share_one_matrix() -> None:
    config = tiny_config(emb_size=64, decoder_hidden=64, tie_embeddings=True)
    model = build_model(config, VOCAB, VOCAB)
    assert model.output_layer.weight is model.decoder.embed.weight


def test_shared_embeddings_are_one_matrix_for_one_vocabulary() -> None:
    model = build_model(tiny_config(share_embeddings=True), VOCAB, VOCAB)
    assert model.decoder.embed.weight is model.encoder.embed.weight
    assert model.decoder.embed.weight[PAD].abs().sum() == 0
    unshared = build_model(tiny_config(), VOCAB, VOCAB)
    saved = sum(p.numel() for p in unshared.parameters()) - sum(
        p.numel() for p in model.parameters()
    )
    assert saved == VOCAB * model.config.emb_size
    with pytest.raises(ValueError, match="share_embeddings needs one joint vocabulary"):
        build_model(tiny_config(share_embeddings=True), VOCAB, VOCAB + 1)


def test_bahdanau_attention_size_sets_its_hidden_layer_and_still_learns() -> None:
    config = tiny_config(decoder="fused", attention_size=8)
    attention = build_model(config, VOCAB, VOCAB).decoder.attention
    assert attention.key_layer.weight.shape == (8, config.encoder_hidden * 2)
    assert attention.query_layer.weight.shape == (8, config.decoder_hidden)
    default = build_model(tiny_config(), VOCAB, VOCAB).decoder.attention
    assert default.query_layer.weight.shape[0] == tiny_config().decoder_hidden
    assert overfit_reversal(config, max_steps=400) >= 0.99


def test_dot_attention_with_mismatched_sizes_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="dot attention needs decoder_hidden"):
        build_model(tiny_config(attention="dot", decoder_hidden=48), VOCAB, VOCAB)


def test_label_smoothing_raises_the_loss_of_a_confident_model() -> None:
    torch.manual_seed(0)
    model = build_model(tiny_config(), VOCAB, VOCAB).eval()
    batch = padded_example()
    with torch.no_grad():
        plain, _, _ = model(*batch, label_smoothing=0.0)
        smoothed, _, _ = model(*batch, label_smoothing=0.1)
    assert not torch.isclose(plain, smoothed)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_fused_cross_entropy_equals_torch(smoothing: float) -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 25, dtype=torch.float64, generator=generator, requires_grad=True)
    gold = torch.randint(0, 25, (40,), generator=generator)
    expected = torch.nn.functional.cross_entropy(
        logits, gold, label_smoothing=smoothing, reduction="sum"
    )
    (expected_grad,) = torch.autograd.grad(expected * 1.5, logits)
    loss, correct = smoothed_cross_entropy(logits, gold, smoothing)
    (grad,) = torch.autograd.grad(loss * 1.5, logits)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(grad, expected_grad)
    assert int(correct) == int((logits.argmax(-1) == gold).sum())


def test_fused_cross_entropy_survives_an_underflowing_gold_probability() -> None:
    """A gold logit 200 below the best one has probability 0 in fp32: the loss stays exact."""
    logits = torch.zeros(3, 10)
    logits[0, 1] = 200.0
    gold = torch.tensor([0, 2, 3])
    loss, _ = smoothed_cross_entropy(logits.requires_grad_(), gold, 0.1)
    expected = torch.nn.functional.cross_entropy(
        logits.double(), gold, label_smoothing=0.1, reduction="sum"
    )
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss.double(), expected)


def test_fused_cross_entropy_on_bf16_logits_matches_fp32() -> None:
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(64, 300, generator=generator).bfloat16()
    gold = torch.randint(0, 300, (64,), generator=generator)
    half = logits.clone().requires_grad_()
    full = logits.float().requires_grad_()
    loss_half, _ = smoothed_cross_entropy(half, gold, 0.1)
    loss_full, _ = smoothed_cross_entropy(full, gold, 0.1)
    loss_half.backward()
    loss_full.backward()
    assert half.grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss_half, loss_full)
    torch.testing.assert_close(half.grad.float(), full.grad, atol=2e-3, rtol=1e-2)


def test_dropout_zeroes_a_share_p_scales_the_rest_and_keeps_the_dtype() -> None:
    from nmt.model.dropout import Dropout

    dropout = Dropout(0.25)
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.ones(400, 500, dtype=dtype, requires_grad=True)
        y = dropout(x)
        assert y.dtype == dtype
        dropped = (y == 0).float().mean().item()
        assert abs(dropped - 0.25) < 0.01
        assert torch.all((y == 0) | (y.float() - 1 / 0.75).abs().lt(1e-2))
        y.sum().backward()
        assert torch.equal(x.grad == 0, y == 0)  # the gradient flows through the kept ones only
    dropout.eval()
    x = torch.randn(3, 4)
    assert dropout(x) is x
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)


@pytest.mark.parametrize("fused", [False, True])
def test_copy_attention_learns_reversal_and_step_matches_teacher_forcing(fused: bool) -> None:
    config = tiny_config(copy_attention=True, decoder="fused" if fused else "input_feeding")
    assert overfit_reversal(config, max_steps=400) >= 0.99
    torch.manual_seed(2)
    model = build_model(config, VOCAB, VOCAB).eval()
    with torch.no_grad():  # a gate far from 0 and 1, so both parts of the mixture count
        model.copy_gate.bias.fill_(0.3)
    src, src_lengths, tgt_in, tgt_out, tgt_lengths = padded_example()
    with torch.no_grad():
        forced = forced_log_probs(model, src, src_lengths, tgt_in, tgt_lengths)
        torch.testing.assert_close(forced.exp().sum(-1), torch.ones(forced.shape[:2]))
        encoded, state = model.encode(src, src_lengths)
        for t in range(tgt_in.size(1)):
            log_probs, _, state = model.step(tgt_in[:, t], encoded, state)
            real = tgt_out[:, t] != PAD
            torch.testing.assert_close(log_probs[real], forced[real, t], atol=1e-5, rtol=0)
        # the summed loss is the negative log-likelihood of these same distributions
        loss, tokens, _ = model(src, src_lengths, tgt_in, tgt_out, tgt_lengths)
        real = tgt_out != PAD
        expected = -forced[real].gather(1, tgt_out[real].unsqueeze(1)).sum()
        torch.testing.assert_close(loss, expected, atol=1e-4, rtol=0)


def test_copy_mixture_is_the_attention_or_the_softmax_at_the_gate_extremes() -> None:
    logits = torch.randn(2, VOCAB, generator=torch.Generator().manual_seed(0))
    weights = torch.tensor([[0.5, 0.25, 0.25, 0.0], [1.0, 0.0, 0.0, 0.0]])
    src = torch.tensor([[5, 7, 5, PAD], [9, PAD, PAD, PAD]])
    copied = copy_log_probs(logits, torch.full((2, 1), -60.0), weights, src).exp()
    expected = torch.zeros(2, VOCAB)
    expected[0, 5], expected[0, 7], expected[1, 9] = 0.75, 0.25, 1.0
    torch.testing.assert_close(copied, expected, atol=1e-6, rtol=0)
    generated = copy_log_probs(logits, torch.full((2, 1), 60.0), weights, src)
    torch.testing.assert_close(generated, torch.log_softmax(logits, -1))


def smoothed_nll(log_probs: torch.Tensor, gold: torch.Tensor, smoothing: float) -> tuple:
    """The label-smoothed loss written plainly over given log-probabilities: the reference for
    the fused losses, ``(1 - s) * -log p(gold) + s * mean(-log p)`` and the argmax-right count."""
    gold_log_prob = log_probs.gather(1, gold.unsqueeze(1)).squeeze(1)
    loss = -(1.0 - smoothing) * gold_log_prob.sum()
    if smoothing > 0:
        loss = loss - smoothing * log_probs.mean(dim=-1).sum()
    correct = (gold_log_prob >= log_probs.amax(dim=-1)).sum()
    return loss, correct


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_smoothed_nll_of_log_softmax_equals_the_fused_loss(smoothing: float) -> None:
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(30, VOCAB, dtype=torch.float64, generator=generator)
    gold = torch.randint(0, VOCAB, (30,), generator=generator)
    fused, fused_correct = smoothed_cross_entropy(logits, gold, smoothing)
    loss, correct = smoothed_nll(torch.log_softmax(logits, -1), gold, smoothing)
    torch.testing.assert_close(loss, fused)
    assert int(correct) == int(fused_correct)


def copy_inputs(dtype: torch.dtype, rows: int = 70) -> tuple[torch.Tensor, ...]:
    """Rows over more than one CPU chunk, repeated source ids, padding, gold copied or not."""
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(rows, VOCAB, generator=generator).mul(3).to(dtype)
    gate_logits = torch.randn(rows, 1, generator=generator).to(dtype)
    src = torch.randint(1, VOCAB, (rows, 6), generator=generator)
    src[:, 1] = src[:, 0]  # the same piece twice in every source
    src[::3, 4:] = PAD
    scores = torch.randn(rows, 6, generator=generator).masked_fill(src == PAD, float("-inf"))
    weights = torch.softmax(scores, -1).to(dtype)
    gold = torch.randint(1, VOCAB, (rows,), generator=generator)
    gold[::2] = src[::2, 2]  # half the gold pieces are in the source
    return logits, gate_logits, weights, src, gold


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_fused_copy_loss_and_gradients_equal_the_plain_mixture(smoothing: float) -> None:
    logits, gate_logits, weights, src, gold = copy_inputs(torch.float64)
    inputs = [t.clone().requires_grad_() for t in (logits, gate_logits, weights)]
    reference = [t.clone().requires_grad_() for t in (logits, gate_logits, weights)]
    loss, correct = copy_cross_entropy(*inputs, src, gold, smoothing)
    expected, expected_correct = smoothed_nll(copy_log_probs(*reference, src), gold, smoothing)
    torch.testing.assert_close(loss, expected)
    assert int(correct) == int(expected_correct)
    (loss * 0.5).backward()
    (expected * 0.5).backward()
    for fused, plain in zip(inputs, reference, strict=True):
        torch.testing.assert_close(fused.grad, plain.grad)


def test_fused_copy_loss_reads_half_precision_like_fp32() -> None:
    full = copy_inputs(torch.float32)
    half = copy_inputs(torch.bfloat16)
    rounded = [t.to(torch.float32) for t in half[:3]]
    loss_half, _ = copy_cross_entropy(*half[:3], half[3], half[4], 0.1)
    loss_full, _ = copy_cross_entropy(*rounded, full[3], full[4], 0.1)
    assert loss_half.dtype == torch.float32
    torch.testing.assert_close(loss_half, loss_full)
    grads = [t.clone().requires_grad_() for t in half[:3]]
    copy_cross_entropy(*grads, half[3], half[4], 0.1)[0].backward()
    assert [g.grad.dtype for g in grads] == [torch.bfloat16] * 3


def test_copy_attention_needs_one_vocabulary() -> None:
    with pytest.raises(ValueError, match="copy_attention needs one joint vocabulary"):
        build_model(tiny_config(copy_attention=True), VOCAB, VOCAB + 1)
