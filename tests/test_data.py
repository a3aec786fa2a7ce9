"""Data pipeline: parallel corpora, HF loading, cached tokenization, filters, token batches,
collate, streaming. The line reader itself is tested in test_textio.py."""

from __future__ import annotations

import gzip
import json
import os
import random
from collections import Counter
from pathlib import Path

import datasets
import huggingface_hub
import numpy as np
import pytest
import torch

from nmt.batching import (
    Batch,
    StreamingBatches,
    TokenBatchSampler,
    collate,
    sort_batches,
)
from nmt.cli import main
from nmt.config import DataConfig, TokenizerConfig
from nmt.data import (
    DataError,
    FilterReport,
    dataset_lengths,
    drop_final_periods,
    drop_reasons,
    load_hf_parallel,
    prepare_dataset,
    read_parallel,
)
from nmt.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer, train_tokenizer

DATA_DIR = Path(os.environ.get("NMT_DATA_DIR", "/work/shared/data/en-es"))

WORDS = (
    "el la gato perro casa es grande pequeño rojo yo tú quiero ir comer agua pan hoy mañana "
    "dónde porque muy rápido niño año corazón the cat dog house big small I want to go eat"
).split()


def _write(path: Path, lines: list[str], gz: bool = False) -> str:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return str(path)


class WordTokenizer:
    """One id per whitespace-separated word, so that a crafted corpus has known lengths."""

    def encode_src(self, texts: list[str]) -> list[list[int]]:
        return [[4 + len(word) for word in text.split()] for text in texts]

    encode_tgt = encode_src


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _crafted_corpus() -> tuple[list[str], list[str], FilterReport]:
    """Pairs whose fate under min_len=2, max_len=50, max_ratio=3 is known, counted in words
    (:class:`WordTokenizer`); pairs that fail several filters count under the first."""
    rng = random.Random(7)
    pairs = [(s, s) for s in (_words(rng, rng.randint(3, 10)) for _ in range(20))]
    pairs += [("el gato", _words(rng, 6)), (_words(rng, 50), _words(rng, 50))]
    pairs += [("la casa", "la casa")]  # kept: ratio exactly 3, max_len and min_len exactly
    pairs += [("", "el gato"), ("el perro", "   "), ("", ""), ("", _words(rng, 60))]  # empty
    pairs += [("a", "a"), ("b", "la casa grande roja")]  # too short (the 2nd before ratio)
    pairs += [(_words(rng, 51), _words(rng, 51)), ("el gato", _words(rng, 60))]  # too long
    pairs += [("el gato", _words(rng, 7)), (_words(rng, 10), "la casa grande")]  # ratio > 3
    src, tgt = zip(*pairs, strict=True)
    return list(src), list(tgt), FilterReport(total=33, empty=4, too_short=2, too_long=2, ratio=2)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    directory = tmp_path_factory.mktemp("spm")
    rng = random.Random(1)
    text = _write(directory / "text", [_words(rng, rng.randint(2, 12)) for _ in range(500)])
    return train_tokenizer(TokenizerConfig(vocab_size=320), [text], [text], directory)


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[DataConfig, FilterReport]:
    src, tgt, expected = _crafted_corpus()
    config = DataConfig(
        train_src=[_write(tmp_path / "train.en", src)],
        train_tgt=[_write(tmp_path / "train.es", tgt)],
        dev_src=_write(tmp_path / "dev.en", src),
        dev_tgt=_write(tmp_path / "dev.es", tgt),
        min_len=2,
        max_len=50,
        max_ratio=3.0,
        cache_dir=str(tmp_path / "cache"),
    )
    return config, expected


# ---- reading ----------------------------------------------------------------------------------


def test_gzipped_and_plain_corpora_read_identically(tmp_path: Path) -> None:
    src, tgt, _ = _crafted_corpus()
    plain = read_parallel([_write(tmp_path / "a.en", src)], [_write(tmp_path / "a.es", tgt)])
    zipped = read_parallel(
        [_write(tmp_path / "a.en.gz", src, gz=True)], [_write(tmp_path / "a.es.gz", tgt, gz=True)]
    )
    assert zipped == plain == (src, tgt)


def test_read_parallel_concatenates_file_pairs_in_order(tmp_path: Path) -> None:
    files = [_write(tmp_path / name, [name]) for name in ("1.en", "1.es", "2.en", "2.es")]
    assert read_parallel(files[0::2], files[1::2]) == (["1.en", "2.en"], ["1.es", "2.es"])


@pytest.mark.parametrize("longer", ["src", "tgt"])
def test_line_count_mismatch_names_both_files_and_counts(tmp_path: Path, longer: str) -> None:
    src = _write(tmp_path / "x.en", ["a", "b", "c"] if longer == "src" else ["a"])
    tgt = _write(tmp_path / "x.es.gz", ["a"] if longer == "src" else ["a", "b", "c"], gz=True)
    counts = (3, 1) if longer == "src" else (1, 3)
    with pytest.raises(DataError, match=f"{src} has {counts[0]} lines, {tgt} has {counts[1]}"):
        read_parallel([src], [tgt])


# ---- Hugging Face datasets --------------------------------------------------------------------


def _hf_dir(tmp_path: Path, pairs: list[tuple[str, str]]) -> str:
    directory = tmp_path / "hf_corpus"
    directory.mkdir()
    with open(directory / "train.jsonl", "w", encoding="utf-8") as out:
        for en, es in pairs:
            out.write(json.dumps({"id": 0, "translation": {"en": en, "es": es}}) + "\n")
    return str(directory)


@pytest.mark.parametrize("streaming", [False, True])
def test_hf_dataset_with_dotted_columns_gives_src_and_tgt(tmp_path: Path, streaming: bool) -> None:
    pairs = [("Hello.", "Hola."), ("Thanks!", "¡Gracias!")]
    dataset = load_hf_parallel(
        _hf_dir(tmp_path, pairs),
        None,
        "train",
        "translation.en",
        "translation.es",
        streaming=streaming,
        cache_dir=str(tmp_path / "cache"),
    )
    assert [(row["src"], row["tgt"]) for row in dataset] == pairs
    assert sorted(next(iter(dataset))) == ["src", "tgt"]


def test_hf_dataset_missing_column_names_the_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no column 'translation.fr'.*translation.en"):
        load_hf_parallel(
            _hf_dir(tmp_path, [("a", "b")]),
            None,
            "train",
            "translation.en",
            "translation.fr",
            cache_dir=str(tmp_path / "cache"),
        )


def test_unreachable_hub_is_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match="'nmt-test/no-such-corpus'.*could not be loaded"):
        load_hf_parallel("nmt-test/no-such-corpus", None, "train", "en", "es")


def test_prepare_dataset_reads_a_hf_corpus_when_no_files_are_given(
    tmp_path: Path, tokenizer: Tokenizer
) -> None:
    pairs = [("el gato", "the cat"), ("", "dog"), ("el perro", "the dog")]
    config = DataConfig(hf_name=_hf_dir(tmp_path, pairs), cache_dir=str(tmp_path / "cache"))
    dataset, report = prepare_dataset(config, tokenizer, "train")
    assert dataset["src"][:] == ["el gato", "el perro"]
    assert (report.total, report.empty) == (3, 1)


# ---- tokenizing and filtering -----------------------------------------------------------------


def test_drop_reasons_apply_filters_in_order_empty_length_ratio() -> None:
    config = DataConfig(min_len=2, max_len=10, max_ratio=2.0)
    src = np.array([5, 0, 1, 11, 2, 3, 0, 1, 11])
    tgt = np.array([5, 4, 4, 4, 5, 6, 20, 20, 1])
    train = [0, 1, 2, 3, 4, 0, 1, 2, 2]
    dev = [0, 1, 0, 0, 0, 0, 1, 0, 0]
    assert drop_reasons(src, tgt, config).tolist() == train
    assert drop_reasons(src, tgt, config, length_filters=False).tolist() == dev


def test_filter_report_counts_each_dropped_pair_once(
    crafted: tuple[DataConfig, FilterReport],
) -> None:
    config, expected = crafted
    dataset, report = prepare_dataset(config, WordTokenizer(), "train")
    assert report == expected
    assert report.kept == len(dataset) == 23
    assert str(report) == (
        "kept 23 of 33 pairs (dropped: 4 empty, 2 too_short, 2 too_long, 2 ratio)"
    )


def test_pairs_on_the_filter_bounds_are_kept(crafted: tuple[DataConfig, FilterReport]) -> None:
    config, _ = crafted
    dataset, _ = prepare_dataset(config, WordTokenizer(), "train")
    lengths = set(zip(*dataset_lengths(dataset), strict=True))
    assert {(2, 6), (50, 50), (2, 2)} <= lengths


def test_dev_split_drops_only_empty_pairs(crafted: tuple[DataConfig, FilterReport]) -> None:
    config, _ = crafted
    dataset, report = prepare_dataset(config, WordTokenizer(), "dev")
    assert report == FilterReport(total=33, empty=4)
    assert len(dataset) == 29


def test_prepared_columns_hold_int32_ids_and_their_lengths(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer
) -> None:
    config, _ = crafted
    dataset, _ = prepare_dataset(config, tokenizer, "train")
    assert dataset.features["src_ids"].feature.dtype == "int32"
    assert dataset.features["tgt_ids"].feature.dtype == "int32"
    row = dataset[0]
    assert row["src_ids"] == tokenizer.encode_src([row["src"]])[0]
    assert row["tgt_ids"] == tokenizer.encode_tgt([row["tgt"]])[0]
    src_len, tgt_len = dataset_lengths(dataset)
    assert src_len.tolist() == [len(ids) for ids in dataset["src_ids"]]
    assert tgt_len.tolist() == [len(ids) for ids in dataset["tgt_ids"]]


def test_second_prepare_reads_the_cache_instead_of_tokenizing(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer
) -> None:
    config, _ = crafted
    first, _ = prepare_dataset(config, tokenizer, "train")
    files = sorted(p for p in Path(config.cache_dir).rglob("*") if p.is_file())
    mtimes = [p.stat().st_mtime_ns for p in files]
    second, _ = prepare_dataset(config, tokenizer, "train")
    again = sorted(p for p in Path(config.cache_dir).rglob("*") if p.is_file())
    assert again == files and [p.stat().st_mtime_ns for p in again] == mtimes
    assert second.cache_files == first.cache_files
    assert second["tgt_ids"][:] == first["tgt_ids"][:]


def test_changed_corpus_file_is_tokenized_again(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer
) -> None:
    config, _ = crafted
    prepare_dataset(config, tokenizer, "dev")
    _write(Path(config.dev_src), ["el gato"])
    _write(Path(config.dev_tgt), ["the cat"])
    dataset, report = prepare_dataset(config, tokenizer, "dev")
    assert dataset["src"][:] == ["el gato"] and report.total == 1


def test_final_periods_drop_from_both_sides_of_the_hashed_fraction() -> None:
    src = [f"frase número {i}." for i in range(4000)]
    tgt = [f"sentence number {i}." for i in range(4000)]
    assert drop_final_periods(src, tgt, 0.0) == (src, tgt)
    new_src, new_tgt = drop_final_periods(src, tgt, 0.25)
    dropped = [i for i, text in enumerate(new_src) if not text.endswith(".")]
    assert 900 < len(dropped) < 1100  # about a quarter
    assert all(new_src[i] == src[i][:-1] and new_tgt[i] == tgt[i][:-1] for i in dropped)
    assert sum(text.endswith(".") for text in new_tgt) == 4000 - len(dropped)
    # picked by the source text: the same pairs whatever their order or batch
    reversed_src, _ = drop_final_periods(src[::-1], tgt[::-1], 0.25)
    assert reversed_src[::-1] == new_src
    assert drop_final_periods(src[:100], tgt[:100], 0.25)[0] == new_src[:100]


def test_only_pairs_ending_in_one_period_on_both_sides_lose_it() -> None:
    src = ["Hola.  ", "¿Vienes?", "Espera...", "Sí.", "Título", "Dos. Frases."]
    tgt = ["Hello.", "Are you coming?", "Wait...", "Yes", "Title.", "Two. Sentences."]
    new_src, new_tgt = drop_final_periods(src, tgt, 1.0)
    assert new_src == ["Hola", "¿Vienes?", "Espera...", "Sí.", "Título", "Dos. Frases"]
    assert new_tgt == ["Hello", "Are you coming?", "Wait...", "Yes", "Title.", "Two. Sentences"]


def test_training_text_loses_final_periods_and_dev_text_keeps_them(
    tmp_path: Path, tokenizer: Tokenizer
) -> None:
    src = [f"el gato {word}." for word in WORDS]
    tgt = [f"the cat {word}." for word in WORDS]
    config = DataConfig(
        train_src=[_write(tmp_path / "train.es", src)],
        train_tgt=[_write(tmp_path / "train.en", tgt)],
        dev_src=_write(tmp_path / "dev.es", src),
        dev_tgt=_write(tmp_path / "dev.en", tgt),
        drop_final_period=1.0,
        cache_dir=str(tmp_path / "cache"),
    )
    without = [text[:-1] for text in tgt]
    assert tokenizer.encode_tgt(without) != tokenizer.encode_tgt(tgt)  # the period is a piece
    train, _ = prepare_dataset(config, tokenizer, "train")
    assert train["src"][:] == [text[:-1] for text in src]
    assert train["tgt_ids"][:] == tokenizer.encode_tgt(without)
    dev, _ = prepare_dataset(config, tokenizer, "dev")
    assert dev["src"][:] == src and dev["tgt_ids"][:] == tokenizer.encode_tgt(tgt)
    streamed = StreamingBatches(config, tokenizer, max_tokens=10_000, seed=1)
    (batch,) = list(streamed)
    with_eos = sorted(len(ids) + 1 for ids in train["tgt_ids"][:])
    assert sorted(batch.tgt_lengths.tolist()) == with_eos


def test_two_worker_processes_tokenize_like_one(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer, tmp_path: Path
) -> None:
    config, _ = crafted
    one, _ = prepare_dataset(config, tokenizer, "train")
    config.num_proc, config.cache_dir = 2, str(tmp_path / "cache2")
    two, _ = prepare_dataset(config, tokenizer, "train")
    assert two["src_ids"][:] == one["src_ids"][:]


def test_missing_corpus_file_in_config_names_the_path(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer
) -> None:
    config, _ = crafted
    config.train_tgt = [config.train_tgt[0] + ".missing"]
    with pytest.raises(DataError, match=rf"{config.train_tgt[0]}: file not found"):
        prepare_dataset(config, tokenizer, "train")


def test_misaligned_corpus_in_config_names_both_files(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer, tmp_path: Path
) -> None:
    config, _ = crafted
    config.train_tgt = [_write(tmp_path / "short.es", ["uno", "dos"])]
    with pytest.raises(DataError, match=f"{config.train_src[0]} has 33 lines, .*short.es has 2"):
        prepare_dataset(config, tokenizer, "train")


def _batches_or_dataset(config: DataConfig, streaming: bool) -> object:
    if streaming:
        return list(StreamingBatches(config, WordTokenizer(), max_tokens=100, seed=1))
    return prepare_dataset(config, WordTokenizer(), "train")


@pytest.mark.parametrize("streaming", [False, True])
def test_empty_training_files_are_a_data_error_naming_them(tmp_path: Path, streaming: bool) -> None:
    config = DataConfig(
        train_src=[_write(tmp_path / "train.en", [])],
        train_tgt=[_write(tmp_path / "train.es", [])],
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(DataError, match=rf"{tmp_path}/train\.en, {tmp_path}/train\.es: no lines"):
        _batches_or_dataset(config, streaming)


@pytest.mark.parametrize("streaming", [False, True])
def test_all_blank_training_pairs_are_a_data_error_with_the_filter_counts(
    tmp_path: Path, streaming: bool
) -> None:
    config = DataConfig(
        train_src=[_write(tmp_path / "train.en", [""] * 2000)],
        train_tgt=[_write(tmp_path / "train.es", [" "] * 2000)],
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(DataError) as caught:
        _batches_or_dataset(config, streaming)
    assert f"{tmp_path}/train.en, {tmp_path}/train.es" in str(caught.value)
    assert "kept 0 of 2,000 pairs (dropped: 2,000 empty, 0 too_short" in str(caught.value)


def test_streaming_pairs_too_few_for_every_process_are_a_data_error(tmp_path: Path) -> None:
    config = DataConfig(
        train_src=[_write(tmp_path / "train.en", ["el gato", ""])],
        train_tgt=[_write(tmp_path / "train.es", ["the cat", "dog"])],
    )
    stream = StreamingBatches(config, WordTokenizer(), 100, seed=1, num_replicas=2, rank=1)
    with pytest.raises(DataError, match=r"kept 1 of 2 pairs .* each of the 2 processes"):
        list(stream)


def test_empty_dev_files_are_a_data_error_naming_them(
    crafted: tuple[DataConfig, FilterReport], tmp_path: Path
) -> None:
    config, _ = crafted
    config.dev_src, config.dev_tgt = (_write(tmp_path / f"empty.{lang}", []) for lang in "xy")
    with pytest.raises(DataError, match=rf"{config.dev_src}, {config.dev_tgt}: no lines"):
        prepare_dataset(config, WordTokenizer(), "dev")


# ---- batching ---------------------------------------------------------------------------------


def _lengths(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src = rng.integers(1, 60, n)
    return src, np.clip(src + rng.integers(-5, 6, n), 1, None)


def _epoch(sampler: TokenBatchSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_batches_respect_the_padded_target_token_budget() -> None:
    src, tgt = _lengths()
    sampler = TokenBatchSampler(src, tgt, max_tokens=500, seed=1)
    for batch in sampler:
        assert len(batch) * (tgt[batch].max() + 1) <= 500


def test_a_pair_longer_than_the_budget_gets_its_own_batch() -> None:
    sampler = TokenBatchSampler([3, 300, 4], [3, 300, 4], max_tokens=100, seed=1, shuffle=False)
    assert list(sampler) == [[0, 2], [1]]


def test_every_index_appears_exactly_once_per_epoch() -> None:
    src, tgt = _lengths()
    sampler = TokenBatchSampler(src, tgt, max_tokens=500, seed=1)
    for epoch in range(2):
        indices = [i for batch in _epoch(sampler, epoch) for i in batch]
        assert sorted(indices) == list(range(len(src)))


def test_same_seed_and_epoch_give_the_same_batches() -> None:
    src, tgt = _lengths()
    a = TokenBatchSampler(src, tgt, max_tokens=500, seed=3)
    b = TokenBatchSampler(src, tgt, max_tokens=500, seed=3)
    assert _epoch(a, 4) == _epoch(b, 4)


def test_other_seed_or_epoch_gives_other_batches() -> None:
    src, tgt = _lengths()
    sampler = TokenBatchSampler(src, tgt, max_tokens=500, seed=3)
    other_seed = TokenBatchSampler(src, tgt, max_tokens=500, seed=4)
    assert _epoch(sampler, 0) != _epoch(sampler, 1)
    assert _epoch(sampler, 0) != _epoch(other_seed, 0)


def test_without_shuffle_batches_are_sorted_and_repeat_every_epoch() -> None:
    src, tgt = _lengths()
    sampler = TokenBatchSampler(src, tgt, max_tokens=500, seed=3, shuffle=False)
    first, second = list(sampler), list(sampler)
    assert first == second
    assert [tgt[b].max() for b in first] == sorted(tgt[b].max() for b in first)


def test_padding_is_small_when_lengths_vary() -> None:
    src, tgt = _lengths(n=20000)
    sampler = TokenBatchSampler(src, tgt, max_tokens=2000, seed=1)
    padded = sum(len(b) * (tgt[b].max() + 1) for b in sampler)
    assert 1 - (tgt + 1).sum() / padded < 0.02


def test_ddp_shards_are_disjoint_and_equally_long() -> None:
    src, tgt = _lengths()
    shards = [
        _epoch(TokenBatchSampler(src, tgt, 500, seed=5, num_replicas=3, rank=r), 2)
        for r in range(3)
    ]
    assert len({len(shard) for shard in shards}) == 1
    indices = [i for shard in shards for batch in shard for i in batch]
    assert len(indices) == len(set(indices))
    single = _epoch(TokenBatchSampler(src, tgt, 500, seed=5), 2)
    usable = len(single) // 3 * 3
    assert shards == [single[:usable][r::3] for r in range(3)]


def test_resume_from_state_dict_continues_with_the_next_batch() -> None:
    src, tgt = _lengths()
    full = _epoch(TokenBatchSampler(src, tgt, 500, seed=9), 2)
    sampler = TokenBatchSampler(src, tgt, 500, seed=9)
    sampler.set_epoch(2)
    iterator = iter(sampler)
    seen = [next(iterator) for _ in range(7)]
    state = sampler.state_dict()
    assert state == {"epoch": 2, "consumed": 7}
    resumed = TokenBatchSampler(src, tgt, 500, seed=9)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # a trainer restarting its epoch loop must not rewind
    assert seen + list(resumed) == full
    assert resumed.state_dict() == {"epoch": 3, "consumed": 0}


def test_finishing_an_epoch_moves_to_the_next() -> None:
    src, tgt = _lengths()
    sampler = TokenBatchSampler(src, tgt, 500, seed=9)
    first, second = list(sampler), list(sampler)
    check = TokenBatchSampler(src, tgt, 500, seed=9)
    assert (first, second) == (_epoch(check, 0), _epoch(check, 1))


def test_sampler_len_counts_batches_per_epoch() -> None:
    src, tgt = _lengths()
    sampler = TokenBatchSampler(src, tgt, 500, seed=9, num_replicas=2, rank=1)
    assert len(sampler) == len(list(sampler))


def test_sort_batches_puts_the_longest_first_and_covers_every_index() -> None:
    batches = sort_batches([3, 9, 1, 9, 5], max_sentences=2)
    assert batches == [[1, 3], [4, 0], [2]]


def test_collate_pads_and_places_bos_and_eos() -> None:
    batch = collate([{"src_ids": [5, 6, 7], "tgt_ids": [8]}, {"src_ids": [9], "tgt_ids": [10, 11]}])
    assert batch.src.tolist() == [[5, 6, 7], [9, PAD_ID, PAD_ID]]
    assert batch.src_lengths.tolist() == [3, 1]
    assert batch.tgt_in.tolist() == [[BOS_ID, 8, PAD_ID], [BOS_ID, 10, 11]]
    assert batch.tgt_out.tolist() == [[8, EOS_ID, PAD_ID], [10, 11, EOS_ID]]
    assert batch.tgt_lengths.tolist() == [2, 3]
    assert batch.n_tgt_tokens == 5
    assert all(t.dtype == torch.int64 for t in (batch.src, batch.tgt_in, batch.tgt_out))


def test_batch_to_moves_every_tensor() -> None:
    batch = collate([{"src_ids": [5], "tgt_ids": [8]}]).to("meta")
    assert isinstance(batch, Batch) and batch.n_tgt_tokens == 2
    assert {t.device.type for t in (batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out)} == {
        "meta"
    }


def test_dataloader_with_sampler_and_collate_yields_batches(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer
) -> None:
    config, _ = crafted
    dataset, _ = prepare_dataset(config, tokenizer, "train")
    sampler = TokenBatchSampler(*dataset_lengths(dataset), max_tokens=60, seed=1)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    batches = list(loader)
    assert sum(len(b.src) for b in batches) == len(dataset)
    assert all(b.tgt_out.numel() <= 60 or len(b.src) == 1 for b in batches)


# ---- streaming --------------------------------------------------------------------------------


def _tgt_multiset(batches: list[Batch]) -> Counter:
    return Counter(tuple(row[row != PAD_ID].tolist()) for batch in batches for row in batch.tgt_out)


def test_streaming_batches_hold_the_same_pairs_and_report_as_the_cached_dataset(
    crafted: tuple[DataConfig, FilterReport],
) -> None:
    config, expected = crafted
    dataset, _ = prepare_dataset(config, WordTokenizer(), "train")
    stream = StreamingBatches(config, WordTokenizer(), max_tokens=60, seed=1, pool_size=7)
    batches = list(stream)
    assert stream.report == expected
    assert _tgt_multiset(batches) == Counter((*ids, EOS_ID) for ids in dataset["tgt_ids"][:])
    assert all(b.tgt_out.numel() <= 60 or len(b.src) == 1 for b in batches)


def test_streaming_ddp_ranks_see_disjoint_batches(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer
) -> None:
    config, _ = crafted
    ranks = [
        list(StreamingBatches(config, tokenizer, 30, seed=1, pool_size=10, num_replicas=2, rank=r))
        for r in range(2)
    ]
    assert len(ranks[0]) == len(ranks[1]) > 0
    everything = list(StreamingBatches(config, tokenizer, 30, seed=1, pool_size=10))
    seen = _tgt_multiset(ranks[0]) + _tgt_multiset(ranks[1])
    assert not seen - _tgt_multiset(everything)  # no pair twice, none invented


def test_streaming_reads_a_hf_corpus(tmp_path: Path, tokenizer: Tokenizer) -> None:
    pairs = [("el gato", "the cat"), ("", "dog"), ("el perro", "the dog")]
    config = DataConfig(hf_name=_hf_dir(tmp_path, pairs), cache_dir=str(tmp_path / "cache"))
    stream = StreamingBatches(config, tokenizer, max_tokens=100, seed=1)
    batches = list(stream)
    assert sum(len(b.src) for b in batches) == 2
    assert stream.report == FilterReport(total=3, empty=1)


def test_streaming_epochs_shuffle_differently(
    crafted: tuple[DataConfig, FilterReport], tokenizer: Tokenizer
) -> None:
    config, _ = crafted
    stream = StreamingBatches(config, tokenizer, max_tokens=40, seed=1)
    first, second = list(stream), list(stream)
    assert [b.src.tolist() for b in first] != [b.src.tolist() for b in second]
    assert _tgt_multiset(first) == _tgt_multiset(second)


# ---- the shared corpus (skipped where it is absent) -------------------------------------------


@pytest.mark.skipif(not (DATA_DIR / "tatoeba").is_dir(), reason=f"no corpus at {DATA_DIR}")
def test_shared_tatoeba_train_batches_pad_less_than_ten_percent(tmp_path: Path) -> None:
    tatoeba = DATA_DIR / "tatoeba"
    spm_dir = tmp_path / "spm"
    tokenizer = train_tokenizer(
        TokenizerConfig(vocab_size=2000),
        [str(tatoeba / "dev.en")],
        [str(tatoeba / "dev.es")],
        spm_dir,
    )
    config = DataConfig(
        train_src=[str(tatoeba / "train.en.gz")],
        train_tgt=[str(tatoeba / "train.es.gz")],
        cache_dir=str(tmp_path / "cache"),
    )
    dataset, report = prepare_dataset(config, tokenizer, "train")
    assert report.total == 104_331
    src, tgt = dataset_lengths(dataset)
    batches = list(TokenBatchSampler(src, tgt, max_tokens=2000, seed=1))
    padded_src = sum(len(b) * src[b].max() for b in batches)
    padded_tgt = sum(len(b) * (tgt[b].max() + 1) for b in batches)
    assert 1 - src.sum() / padded_src < 0.10
    assert 1 - (tgt + 1).sum() / padded_tgt < 0.10


def test_prepare_data_command_prints_the_filter_report(
    crafted: tuple[DataConfig, FilterReport],
    tokenizer: Tokenizer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, _ = crafted
    tokenizer.save(tmp_path / "model")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"data:\n  train_src: [{config.train_src[0]}]\n  train_tgt: [{config.train_tgt[0]}]\n"
        f"  cache_dir: {config.cache_dir}\ntraining:\n  model_dir: {tmp_path / 'model'}\n"
    )
    assert main(["prepare-data", "-c", str(path)]) == 0
    assert "of 33 pairs (dropped: 4 empty," in capsys.readouterr().out
