"""nmt.search on tiny random models with raw ids: beam search agrees with greedy and with
exhaustive search, batching changes nothing, and finished sentences leave the batch.

The searches run through :class:`nmt.search.Search`, built from a DecodingConfig as the
translator builds it; ``run_greedy``, ``run_beam`` and ``run_sampling`` below only spell the settings."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch

from nmt.config import config_from_dict
from nmt.decoding import DecodingConfig
from nmt.errors import NMTError
from nmt.model import Seq2Seq, build_model
from nmt.search import Hypothesis, Search
from nmt.search_rules import (
    MAX_OUTPUT_LEN,
    StepRules,
    _block_repeats,
    coverage_penalty,
    length_penalty,
    max_output_lengths,
    min_output_lengths,
)
from nmt.tokenizer import BOS_ID, EOS_ID, PAD_ID

SRC_VOCAB, TGT_VOCAB = 20, 12


def run_greedy(
    model: Seq2Seq,
    src: torch.Tensor,
    lengths: torch.Tensor,
    max_len_a: float,
    max_len_b: int,
    max_output_len: int = MAX_OUTPUT_LEN,
    **settings,
) -> list[Hypothesis]:
    """Greedy search, scored by plain log-probability (length penalty 0)."""
    config = DecodingConfig(
        beam_size=1, length_penalty=0.0, max_len_a=max_len_a, max_len_b=max_len_b, **settings
    )
    return Search(config, max_output_len).greedy(model, src, lengths)


def run_beam(
    model: Seq2Seq,
    src: torch.Tensor,
    lengths: torch.Tensor,
    beam_size: int,
    alpha: float,
    max_len_a: float,
    max_len_b: int,
    n_best: int = 1,
    max_output_len: int = MAX_OUTPUT_LEN,
    coverage_beta: float = 0.0,
    **settings,
) -> list[list[Hypothesis]]:
    """Beam search of any width (1 included: ``Search`` itself sends width 1 to greedy)."""
    config = DecodingConfig(
        beam_size=beam_size,
        length_penalty=alpha,
        max_len_a=max_len_a,
        max_len_b=max_len_b,
        n_best=n_best,
        coverage_penalty=coverage_beta,
        **settings,
    )
    return Search(config, max_output_len).beam(model, src, lengths)


def run_sampling(
    model: Seq2Seq,
    src: torch.Tensor,
    lengths: torch.Tensor,
    num_samples: int,
    epsilon: float,
    max_len_a: float,
    max_len_b: int,
    seed: int = 1,
    **settings,
) -> list[list[Hypothesis]]:
    """``num_samples`` epsilon samples of each sentence, scored by plain log-probability."""
    config = DecodingConfig(
        sampling="epsilon",
        sampling_epsilon=epsilon,
        n_best=num_samples,
        length_penalty=0.0,
        max_len_a=max_len_a,
        max_len_b=max_len_b,
        seed=seed,
        **settings,
    )
    return Search(config).sample(model, src, lengths)


VARIANTS = [
    (cell, attention, fused)
    for cell, attention in itertools.product(("gru", "lstm", "rnn"), ("bahdanau", "dot", "general"))
    for fused in (False, True)
]


def tiny_model(
    cell: str = "gru",
    attention: str = "bahdanau",
    fused: bool = False,
    tgt_vocab: int = TGT_VOCAB,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Seq2Seq:
    """A "tiny" preset model with weights wide enough that its distributions are far from uniform.

    Such weights also make the recurrence chaotic: float32 rounding differences between a batch
    and a single sentence grow to 1e-3 over a dozen steps, so tests comparing scores computed in
    different ways use float64.
    """
    torch.manual_seed(seed)
    config = config_from_dict(
        {
            "model": {
                "preset": "tiny",
                "cell": cell,
                "attention": attention,
                "decoder": "fused" if fused else "input_feeding",
            }
        }
    ).model
    model = build_model(config, SRC_VOCAB, tgt_vocab)
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.5)
    return model.to(dtype).eval()


def source_batch(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, max_len) random real ids, PAD after each sentence."""
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, SRC_VOCAB, (len(lengths), max(lengths)), generator=generator)
    for row, length in enumerate(lengths):
        src[row, length:] = PAD_ID
    return src, torch.tensor(lengths)


def exhaustive_best(
    model: Seq2Seq, src: torch.Tensor, max_len: int, min_len: int = 0
) -> tuple[list[int], float]:
    """The highest-scoring output of ``min_len`` .. ``max_len`` tokens + EOS, by trying them all."""
    encoded, state = model.encode(src, torch.tensor([src.size(1)]))
    content = [
        i for i in range(model.output_layer.out_features) if i not in (PAD_ID, BOS_ID, EOS_ID)
    ]
    prefixes, prefix_scores = [[]], torch.zeros(1)
    best: tuple[list[int], float] = ([], -math.inf)
    with torch.inference_mode():
        for depth in range(max_len + 1):
            rows = torch.zeros(len(prefixes), dtype=torch.long)
            prev = torch.tensor([p[-1] if p else BOS_ID for p in prefixes])
            log_probs, _, state = model.step(prev, encoded.select(rows), state)
            complete = prefix_scores + log_probs[:, EOS_ID]
            top = int(complete.argmax())
            if depth >= min_len and float(complete[top]) > best[1]:
                best = (prefixes[top], float(complete[top]))
            if depth == max_len:
                break
            # every prefix extended by every content token, prefix-major
            prefixes = [p + [token] for p in prefixes for token in content]
            prefix_scores = (prefix_scores.unsqueeze(1) + log_probs[:, content]).view(-1)
            state = state.select(torch.arange(len(rows)).repeat_interleave(len(content)))
    return best


def teacher_forced(
    model: Seq2Seq, src: torch.Tensor, tokens: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(len(tokens) + 1, V) next-token log-probabilities and (len(tokens) + 1, src_len) attention
    weights of each step along ``tokens`` + EOS under teacher forcing."""
    encoded, state = model.encode(src, torch.tensor([src.size(1)]))
    log_probs, attention = [], []
    with torch.inference_mode():
        for prev in [BOS_ID, *tokens]:
            step_log_probs, weights, state = model.step(torch.tensor([prev]), encoded, state)
            log_probs.append(step_log_probs[0])
            attention.append(weights[0])
    return torch.stack(log_probs), torch.stack(attention)


def sequence_score(model: Seq2Seq, src: torch.Tensor, tokens: list[int]) -> float:
    """Sum of log-probabilities of ``tokens`` + EOS under teacher forcing."""
    log_probs, _ = teacher_forced(model, src, tokens)
    return float(log_probs[torch.arange(len(tokens) + 1), [*tokens, EOS_ID]].sum())


@pytest.mark.parametrize("cell,attention,fused", VARIANTS)
def test_beam_size_one_equals_greedy(cell: str, attention: str, fused: bool) -> None:
    model = tiny_model(cell, attention, fused)
    src, lengths = source_batch([5, 3, 7, 1, 4, 6])
    greedy = run_greedy(model, src, lengths, max_len_a=1.5, max_len_b=3)
    beam = run_beam(model, src, lengths, 1, 0.0, max_len_a=1.5, max_len_b=3)
    assert len(greedy) == len(beam) == 6
    for g, (b,) in zip(greedy, beam, strict=True):
        assert g.tokens == b.tokens
        assert g.score == b.score
        assert torch.equal(g.attention, b.attention)


@pytest.mark.parametrize(
    "cell,attention,fused,seed",
    [("gru", "bahdanau", False, 1), ("lstm", "general", True, 2), ("rnn", "dot", False, 6)],
)
def test_wide_beam_finds_exhaustive_best(cell: str, attention: str, fused: bool, seed: int) -> None:
    """With no length penalty, a beam that can hold every prefix up to the limit is exact.

    A beam as wide as the vocabulary is not enough beyond one token: with V tokens there are
    (V-3)^L prefixes of length L to keep. So the vocabulary is 6 (3 content tokens incl. UNK), the
    limit 3 tokens, and the beam (V-2)^3 = 64 wide.
    """
    vocab, max_len = 6, 3
    model = tiny_model(cell, attention, fused, tgt_vocab=vocab, seed=seed, dtype=torch.float64)
    src, lengths = source_batch([4], seed=seed)
    ((best, *_),) = run_beam(
        model, src, lengths, (vocab - 2) ** max_len, 0.0, max_len_a=0.0, max_len_b=max_len
    )
    tokens, score = exhaustive_best(model, src, max_len)
    (greedy,) = run_greedy(model, src, lengths, 0.0, max_len)
    assert greedy.tokens != tokens  # the seeds are cases that greedy search gets wrong
    assert best.score == pytest.approx(score, abs=1e-9)
    assert sequence_score(model, src, best.tokens) == pytest.approx(score, abs=1e-9)
    assert best.tokens == tokens


def test_beam_as_wide_as_vocabulary_is_exact_for_one_token() -> None:
    vocab = 12
    model = tiny_model(tgt_vocab=vocab, seed=3, dtype=torch.float64)
    src, lengths = source_batch([5], seed=3)
    ((best, *_),) = run_beam(model, src, lengths, vocab, 0.0, max_len_a=0.0, max_len_b=1)
    tokens, score = exhaustive_best(model, src, 1)
    assert best.tokens == tokens
    assert best.score == pytest.approx(score, abs=1e-9)


def test_batched_search_equals_one_sentence_at_a_time() -> None:
    model = tiny_model("lstm", "bahdanau", dtype=torch.float64)
    lengths = [6, 2, 5, 1, 4]
    src, src_lengths = source_batch(lengths)
    batched = run_beam(model, src, src_lengths, 4, 1.0, 1.5, 3, n_best=3)
    for row, length in enumerate(lengths):
        alone = run_beam(
            model, src[row : row + 1, :length], src_lengths[row : row + 1], 4, 1.0, 1.5, 3, n_best=3
        )[0]
        assert [h.tokens for h in batched[row]] == [h.tokens for h in alone]
        for b, a in zip(batched[row], alone, strict=True):
            assert b.score == pytest.approx(a.score, abs=1e-9)
            assert torch.allclose(b.attention, a.attention, atol=1e-9)
    greedy_batched = run_greedy(model, src, src_lengths, 1.5, 3)
    for row, length in enumerate(lengths):
        (alone,) = run_greedy(
            model, src[row : row + 1, :length], src_lengths[row : row + 1], 1.5, 3
        )
        assert greedy_batched[row].tokens == alone.tokens


@pytest.mark.parametrize("cell,attention,fused", VARIANTS[::3])
def test_n_best_lists_are_sorted_and_distinct(cell: str, attention: str, fused: bool) -> None:
    model = tiny_model(cell, attention, fused)
    src, lengths = source_batch([5, 3, 7, 2])
    for n_best in run_beam(model, src, lengths, 6, 1.0, 1.5, 3, n_best=6):
        assert len(n_best) == 6
        scores = [h.score for h in n_best]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in n_best}) == 6


def test_scores_are_length_normalised_log_probabilities() -> None:
    model = tiny_model("gru", "general", dtype=torch.float64)
    lengths = [4, 6]
    src, src_lengths = source_batch(lengths)
    for alpha in (0.0, 1.0):
        results = run_beam(model, src, src_lengths, 3, alpha, 1.5, 3, n_best=3)
        for row, n_best in enumerate(results):
            one = src[row : row + 1, : lengths[row]]
            for h in n_best:
                expected = sequence_score(model, one, h.tokens) / length_penalty(
                    len(h.tokens) + 1, alpha
                )
                assert h.score == pytest.approx(expected, abs=1e-9)


def test_output_stops_at_the_length_limit() -> None:
    model = tiny_model("rnn", "dot")
    lengths = [1, 4, 9]
    src, src_lengths = source_batch(lengths)
    limits = max_output_lengths(src_lengths, 0.5, 1).tolist()
    assert limits == [1, 3, 5]
    for hyps in (
        run_beam(model, src, src_lengths, 3, 1.0, 0.5, 1, n_best=3),
        [[h] for h in run_greedy(model, src, src_lengths, 0.5, 1)],
    ):
        for n_best, limit in zip(hyps, limits, strict=True):
            assert all(len(h.tokens) <= limit for h in n_best)
    (hard,) = run_greedy(model, src[2:], src_lengths[2:], 10.0, 100, max_output_len=2)
    assert len(hard.tokens) <= 2


def test_attention_covers_own_source_and_rows_sum_to_one() -> None:
    model = tiny_model("gru", "bahdanau", fused=True)
    lengths = [3, 7]
    src, src_lengths = source_batch(lengths)
    for n_best, length in zip(
        run_beam(model, src, src_lengths, 3, 1.0, 1.5, 3), lengths, strict=True
    ):
        (h,) = n_best
        assert h.attention.shape == (len(h.tokens), length)
        assert h.attention.device.type == "cpu"
        assert torch.allclose(h.attention.sum(-1), torch.ones(len(h.tokens)), atol=1e-5)


def test_finished_sentences_leave_the_batch() -> None:
    """A one-piece source (limit 1) finishes after two steps; the others go on with fewer rows."""
    model = tiny_model("gru", "dot")
    rows_per_step: list[int] = []
    sentences_per_step: list[int] = []
    step = model.step

    def counting_step(prev, encoded, state):  # type: ignore[no-untyped-def]
        rows_per_step.append(prev.size(0))
        sentences_per_step.append(encoded.memory.size(0))  # one encoder row per sentence
        return step(prev, encoded, state)

    model.step = counting_step  # type: ignore[method-assign]
    src, lengths = source_batch([1, 8, 8])
    run_beam(model, src, lengths, 4, 1.0, 1.0, 0)
    assert rows_per_step[:2] == [12, 12]
    assert rows_per_step[2] <= 8
    assert rows_per_step == sorted(rows_per_step, reverse=True)
    assert [rows // 4 for rows in rows_per_step] == sentences_per_step
    rows_per_step.clear()
    sentences_per_step.clear()
    run_greedy(model, src, lengths, 1.0, 0)
    assert rows_per_step[:2] == [3, 3]
    assert rows_per_step == sentences_per_step
    assert rows_per_step[2] <= 2


def test_search_never_emits_pad_or_bos_and_restores_training_mode() -> None:
    model = tiny_model("lstm", "dot").train()
    src, lengths = source_batch([5, 5, 3])
    results = run_beam(model, src, lengths, 5, 1.0, 2.0, 5, n_best=5)
    assert model.training
    tokens = {t for n_best in results for h in n_best for t in h.tokens}
    assert not tokens & {PAD_ID, BOS_ID, EOS_ID}


def test_invalid_beam_arguments_are_rejected() -> None:
    model = tiny_model()
    src, lengths = source_batch([3])
    with pytest.raises(NMTError, match="beam_size: 0 is out of range"):
        run_beam(model, src, lengths, 0, 1.0, 1.5, 3)
    with pytest.raises(NMTError, match="n_best .3. must not exceed beam_size .2."):
        run_beam(model, src, lengths, 2, 1.0, 1.5, 3, n_best=3)


def test_empty_batch_returns_no_hypotheses() -> None:
    model = tiny_model()
    src, lengths = torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    assert run_greedy(model, src, lengths, 1.5, 3) == []
    assert run_beam(model, src, lengths, 3, 1.0, 1.5, 3) == []


def repeated_ngrams(tokens: list[int], n: int) -> int:
    ngrams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(ngrams) - len(set(ngrams))


def test_block_repeats_forbids_exactly_the_tokens_that_repeat_an_ngram() -> None:
    history = torch.tensor([[5, 6, 7, 5, 6], [5, 6, 7, 8, 9]])
    for n, banned in ((3, {7}), (2, {7}), (4, set()), (6, set())):
        log_probs = torch.zeros(2, 12)
        _block_repeats(log_probs, history, n)
        assert set(torch.isinf(log_probs[0]).nonzero().flatten().tolist()) - {PAD_ID} == banned
        # nothing repeats in the second row (PAD, blocked anyway, may be marked)
        assert set(torch.isinf(log_probs[1]).nonzero().flatten().tolist()) <= {PAD_ID}, n
    log_probs = torch.zeros(1, 12)
    _block_repeats(log_probs, torch.tensor([[5, 5, 5]]), 2)  # "5 5" is there: 5 may not follow
    assert set(torch.isinf(log_probs[0]).nonzero().flatten().tolist()) - {PAD_ID} == {5}


def test_no_repeat_ngram_leaves_no_repeated_ngram_and_keeps_true_scores() -> None:
    model = tiny_model("gru", "bahdanau", dtype=torch.float64)
    src, src_lengths = source_batch([8, 5, 7, 3, 6, 8], seed=3)
    free = run_beam(model, src, src_lengths, 3, 1.0, 4.0, 10)
    assert any(repeated_ngrams(hyps[0].tokens, 2) for hyps in free)  # loops without blocking
    for n in (2, 3):
        beams = run_beam(model, src, src_lengths, 3, 1.0, 4.0, 10, no_repeat_ngram=n)
        greedy = run_greedy(model, src, src_lengths, 4.0, 10, no_repeat_ngram=n)
        for row, (hyps, g) in enumerate(zip(beams, greedy, strict=True)):
            assert repeated_ngrams(hyps[0].tokens, n) == 0
            assert repeated_ngrams(g.tokens, n) == 0
            # blocking removes candidates; the scores stay the model's own probabilities
            one = src[row : row + 1, : int(src_lengths[row])]
            expected = sequence_score(model, one, hyps[0].tokens)
            assert hyps[0].score == pytest.approx(
                expected / length_penalty(len(hyps[0].tokens) + 1, 1.0), abs=1e-6
            )


def test_min_len_a_blocks_eos_until_the_minimum_and_keeps_true_scores() -> None:
    model = tiny_model("gru", "bahdanau", dtype=torch.float64)
    src, src_lengths = source_batch([8, 5, 7, 3, 6, 8, 2], seed=4)
    a, b, minimum_a = 1.5, 3, 0.9
    minimums = min_output_lengths(
        src_lengths, minimum_a, max_output_lengths(src_lengths, a, b)
    ).tolist()
    assert minimums == [7, 4, 6, 2, 5, 7, 1]
    free = run_greedy(model, src, src_lengths, a, b)
    assert any(len(h.tokens) < m for h, m in zip(free, minimums, strict=True))  # the test bites
    greedy = run_greedy(model, src, src_lengths, a, b, min_len_a=minimum_a)
    beams = run_beam(model, src, src_lengths, 4, 1.0, a, b, n_best=4, min_len_a=minimum_a)
    narrow = run_beam(model, src, src_lengths, 1, 0.0, a, b, min_len_a=minimum_a)
    for row, (g, hyps, (one_beam,)) in enumerate(zip(greedy, beams, narrow, strict=True)):
        assert g.tokens == one_beam.tokens  # beam size 1 is still greedy
        one = src[row : row + 1, : int(src_lengths[row])]
        for h in [g, *hyps]:
            assert len(h.tokens) >= minimums[row]
        for h in hyps:  # blocking EOS removes candidates; scores stay the model's
            expected = sequence_score(model, one, h.tokens) / length_penalty(len(h.tokens) + 1, 1.0)
            assert h.score == pytest.approx(expected, abs=1e-6)
    # a minimum as large as the maximum leaves one length
    (full,) = run_greedy(model, src[:1], src_lengths[:1], a, 0, min_len_a=a)
    assert len(full.tokens) == int(max_output_lengths(src_lengths[:1], a, 0))
    # a minimum above the maximum (the settings refuse one) would be clamped to it
    maximum, minimum = StepRules(a, b, a + b).limits(src_lengths)
    assert torch.equal(minimum, maximum)


def test_wide_beam_with_a_minimum_finds_the_exhaustive_best_of_allowed_lengths() -> None:
    vocab, max_len, min_len = 6, 3, 2
    model = tiny_model(tgt_vocab=vocab, seed=4, dtype=torch.float64)
    src, lengths = source_batch([4], seed=4)
    ((best, *_),) = run_beam(
        model,
        src,
        lengths,
        (vocab - 2) ** max_len,
        0.0,
        max_len_a=min_len / 4,  # the limit: floor(4 * 0.5 + 1) = max_len
        max_len_b=max_len - min_len,
        min_len_a=min_len / 4,
    )
    tokens, score = exhaustive_best(model, src, max_len, min_len)
    assert len(exhaustive_best(model, src, max_len)[0]) < min_len  # the minimum changes the answer
    assert best.tokens == tokens
    assert best.score == pytest.approx(score, abs=1e-9)


def test_coverage_penalty_counts_neglected_real_source_pieces_only() -> None:
    attention = torch.tensor([[[0.5, 0.25, 0.25], [0.75, 0.25, 0.0]]])  # 2 steps, 3 positions
    # piece 0 got 1.25 (capped at 1), piece 1 0.5, piece 2 (padding here) is not counted
    assert coverage_penalty(attention, torch.tensor([2]), 0.4).item() == pytest.approx(
        0.4 * math.log(0.5)
    )
    assert coverage_penalty(attention, torch.tensor([3]), 0.4).item() == pytest.approx(
        0.4 * (math.log(0.5) + math.log(0.25))
    )
    full = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert coverage_penalty(full, torch.tensor([2]), 3.0).item() == 0.0


def test_coverage_penalty_reranks_the_finished_hypotheses_by_their_attention() -> None:
    model = tiny_model("gru", "bahdanau", dtype=torch.float64)
    src, src_lengths = source_batch([8, 5, 7, 3, 6, 8], seed=3)
    plain = run_beam(model, src, src_lengths, 4, 1.0, 2.0, 4, n_best=4)
    covered = run_beam(model, src, src_lengths, 4, 1.0, 2.0, 4, n_best=4, coverage_beta=0.7)
    reordered = 0
    for row, (before, after) in enumerate(zip(plain, covered, strict=True)):
        # the same hypotheses finish (the penalty only ranks them), with the penalty added
        assert sorted(h.tokens for h in before) == sorted(h.tokens for h in after)
        score_before = {tuple(h.tokens): h.score for h in before}
        one = src[row : row + 1, : int(src_lengths[row])]
        for h in after:
            received = teacher_forced(model, one, h.tokens)[1].unsqueeze(0)
            penalty = coverage_penalty(received, src_lengths[row : row + 1], 0.7).item()
            assert penalty <= 0
            assert h.score == pytest.approx(score_before[tuple(h.tokens)] + penalty, abs=1e-6)
        assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)
        reordered += [h.tokens for h in before] != [h.tokens for h in after]
    assert reordered > 0


def test_copy_attention_model_searches_batched_as_alone_and_greedy_as_beam_one() -> None:
    torch.manual_seed(4)
    config = config_from_dict(
        {"model": {"preset": "tiny", "copy_attention": True, "decoder": "fused"}}
    ).model
    model = build_model(config, SRC_VOCAB, SRC_VOCAB)  # copying needs one vocabulary
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.5)
    model = model.to(torch.float64).eval()
    lengths = [6, 2, 5, 1, 4]
    src, src_lengths = source_batch(lengths, seed=4)
    batched = run_beam(model, src, src_lengths, 4, 1.0, 1.5, 3, n_best=3)
    for row, length in enumerate(lengths):
        one = src[row : row + 1, :length]
        (alone,) = run_beam(model, one, src_lengths[row : row + 1], 4, 1.0, 1.5, 3, n_best=3)
        assert [h.tokens for h in batched[row]] == [h.tokens for h in alone]
        best = batched[row][0]
        expected = sequence_score(model, one, best.tokens)
        assert best.score == pytest.approx(
            expected / length_penalty(len(best.tokens) + 1, 1.0), abs=1e-9
        )
    greedy = run_greedy(model, src, src_lengths, 1.5, 3)
    beam_one = run_beam(model, src, src_lengths, 1, 0.0, 1.5, 3)
    assert [g.tokens for g in greedy] == [b.tokens for (b,) in beam_one]


@pytest.mark.parametrize(
    "cell,attention,fused", [("gru", "bahdanau", True), ("lstm", "dot", False)]
)
def test_sampling_with_only_the_argmax_allowed_equals_greedy(
    cell: str, attention: str, fused: bool
) -> None:
    # float64 and a relative tolerance: sampling runs 3 rows per sentence, greedy 1, and the
    # chaotic tiny model turns that difference in rounding into 4e-5 in float32 on some CPUs
    model = tiny_model(cell, attention, fused, dtype=torch.float64)
    src, lengths = source_batch([5, 3, 7, 1])
    greedy = run_greedy(model, src, lengths, max_len_a=1.5, max_len_b=3)
    sampled = run_sampling(model, src, lengths, 3, 0.999, max_len_a=1.5, max_len_b=3)
    assert [len(samples) for samples in sampled] == [3, 3, 3, 3]
    for g, samples in zip(greedy, sampled, strict=True):
        for h in samples:
            assert h.tokens == g.tokens
            assert h.score == pytest.approx(g.score, rel=1e-8)


def test_samples_are_seeded_diverse_scored_and_drawn_above_epsilon() -> None:
    model = tiny_model(tgt_vocab=30, seed=3, dtype=torch.float64)
    src, lengths = source_batch([6, 4, 8])
    epsilon = 0.05

    def draw(seed: int) -> list[list[list[int]]]:
        found = run_sampling(model, src, lengths, 16, epsilon, 1.5, 3, seed=seed)
        return found

    found = draw(7)
    assert [[h.tokens for h in s] for s in found] == [[h.tokens for h in s] for s in draw(7)]
    assert [[h.tokens for h in s] for s in found] != [[h.tokens for h in s] for s in draw(8)]
    limits = max_output_lengths(lengths, 1.5, 3).tolist()
    for b, samples in enumerate(found):
        assert len({tuple(h.tokens) for h in samples}) > 1  # not 16 copies of one output
        sentence = src[b : b + 1, : lengths[b]]
        for h in samples:
            assert len(h.tokens) <= limits[b]
            # relative: over 15 steps the chaotic recurrence grows float64 rounding to ~1e-9
            assert h.score == pytest.approx(sequence_score(model, sentence, h.tokens), rel=1e-8)
            distributions, _ = teacher_forced(model, sentence, h.tokens)
            for t, token in enumerate([*h.tokens, EOS_ID]):
                probs = distributions[t].exp()
                forced = t == limits[b]  # only EOS is allowed at the limit
                assert forced or probs[token] >= epsilon or token == int(probs.argmax())


@pytest.mark.parametrize("sampler", ["topk", "topp"])
def test_top_k_and_nucleus_samples_stay_in_their_sets(sampler: str) -> None:
    """Top-k draws among the 3 most probable allowed pieces, nucleus among the most probable
    ones holding 90 % of the allowed probability; both still draw more than one output."""
    model = tiny_model(tgt_vocab=30, seed=3, dtype=torch.float64)
    src, lengths = source_batch([6, 4, 8])
    top_p = 0.9 if sampler == "topp" else 0.5  # for top-k: a rule its draws break
    config = DecodingConfig(
        sampling=sampler,
        sampling_topk=3,
        sampling_topp=top_p,
        n_best=16,
        length_penalty=0.0,
        max_len_a=1.5,
        max_len_b=3,
    )
    found = Search(config).sample(model, src, lengths)
    limits = max_output_lengths(lengths, 1.5, 3).tolist()
    outside = 0  # draws that the other sampler's rule would not have allowed
    for b, samples in enumerate(found):
        assert len({tuple(h.tokens) for h in samples}) > 1
        sentence = src[b : b + 1, : lengths[b]]
        for h in samples:
            assert h.score == pytest.approx(sequence_score(model, sentence, h.tokens), rel=1e-8)
            distributions, _ = teacher_forced(model, sentence, h.tokens)
            for t, token in enumerate([*h.tokens, EOS_ID]):
                if t == limits[b]:
                    continue  # only EOS is allowed at the limit
                probs = distributions[t].exp()
                probs[[PAD_ID, BOS_ID]] = 0.0  # never generated
                rank = int((probs > probs[token]).sum())
                mass_before = float(probs[probs > probs[token]].sum())
                in_top_k, in_nucleus = rank < 3, mass_before < top_p * float(probs.sum())
                assert in_top_k if sampler == "topk" else in_nucleus
                outside += not (in_nucleus if sampler == "topk" else in_top_k)
    assert outside > 0  # the two rules differ on this model, so each test checks its own


def test_a_low_temperature_samples_the_greedy_output() -> None:
    model = tiny_model(tgt_vocab=30, seed=3, dtype=torch.float64)
    src, lengths = source_batch([6, 4, 8])
    greedy = run_greedy(model, src, lengths, 1.5, 3)
    for temperature, same in ((1e-5, True), (1.0, False)):
        config = DecodingConfig(
            sampling="epsilon",
            sampling_epsilon=0.0,
            temperature=temperature,
            n_best=8,
            max_len_a=1.5,
            max_len_b=3,
        )
        found = Search(config).sample(model, src, lengths)
        pairs = zip(greedy, found, strict=True)
        copies = all(h.tokens == g.tokens for g, samples in pairs for h in samples)
        assert copies == same, temperature


def test_sampling_keeps_the_search_options() -> None:
    """No repeated n-grams, the output minimum, and no PAD or BOS, as in the other searches."""
    model = tiny_model(tgt_vocab=8, seed=2)
    src, lengths = source_batch([6, 5])
    found = run_sampling(
        model, src, lengths, 8, 0.0, 2.0, 4, seed=0, no_repeat_ngram=2, min_len_a=1.0
    )
    for b, samples in enumerate(found):
        for h in samples:
            assert len(h.tokens) >= lengths[b]
            assert repeated_ngrams(h.tokens, 2) == 0
            assert not {PAD_ID, BOS_ID} & set(h.tokens)
    with pytest.raises(NMTError, match="n_best: 0 is out of range"):
        run_sampling(model, src, lengths, 0, 0.0, 1.5, 3)
    with pytest.raises(NMTError, match="sampling_epsilon: 1.0 is out of range"):
        run_sampling(model, src, lengths, 2, 1.0, 1.5, 3)
    assert run_sampling(model, src[:0], lengths[:0], 2, 0.0, 1.5, 3) == []


def nan_model() -> Seq2Seq:
    """A model whose training diverged (say lr=1e38): every weight, so every log-prob, is NaN."""
    model = tiny_model()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(math.nan)
    return model


def test_nan_model_gives_every_sentence_a_hypothesis_scored_minus_inf_and_warns() -> None:
    model = nan_model()
    src, lengths = source_batch([5, 3, 7])
    searches = {
        "greedy": lambda: [[h] for h in run_greedy(model, src, lengths, 1.5, 3)],
        "beam": lambda: run_beam(model, src, lengths, 3, 1.0, 1.5, 3, n_best=3),
        "sampling": lambda: run_sampling(model, src, lengths, 4, 0.0, 1.5, 3, seed=0),
    }
    for name, search in searches.items():
        with pytest.warns(
            RuntimeWarning, match="3 of 3 sentences got no translation with a finite"
        ):
            found = search()
        assert len(found) == 3, name
        for hypotheses in found:
            assert hypotheses, name
            for h in hypotheses:
                assert (h.tokens, h.score, h.attention.shape[0]) == ([], -math.inf, 0), name


def test_a_finite_model_raises_no_warning() -> None:
    model = tiny_model()
    src, lengths = source_batch([5, 3, 7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_greedy(model, src, lengths, 1.5, 3)
        run_beam(model, src, lengths, 3, 1.0, 1.5, 3, n_best=3)
        run_sampling(model, src, lengths, 4, 0.0, 1.5, 3)
