"""nmt.translator and `nmt translate` on the tiny model directory of conftest.py: order, batching,
empty and overlong lines, n-best and alignments, files and pipes, a fresh interpreter."""

from __future__ import annotations

import math
import os
import select
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from sacrebleu.metrics import CHRF

import nmt.parallel as parallel_module
import nmt.train as train_module
from nmt.checkpoint import load_checkpoint, save_checkpoint
from nmt.cli import main
from nmt.config import config_from_dict, save_config
from nmt.errors import NMTError
from nmt.search import Hypothesis, Search
from nmt.segmentation import sentence_spans, split_points
from nmt.translator import Translator

DATA_DIR = Path(os.environ.get("NMT_DATA_DIR", "/work/shared/data/en-es"))
PIPE_TIMEOUT = 120  # seconds for a subprocess to import torch and answer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """A tiny model is slower on two threads than on one when other work shares the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def translator(tiny_model_dir: Path) -> Translator:
    return Translator.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def sentences(tiny_model_dir: Path) -> list[str]:
    """Short English lines the fixture model was not trained on."""
    return (DATA_DIR / "tatoeba" / "dev.en").read_text(encoding="utf-8").splitlines()[300:324]


def overlong_line(sentences: list[str], translator: Translator) -> str:
    line = " ".join(sentences[:8])
    assert len(translator.tokenizer.encode_src([line])[0]) > 3 * translator.max_src_len
    return line


def test_batch_translation_equals_one_line_at_a_time(
    translator: Translator, sentences: list[str]
) -> None:
    batched = translator.translate(sentences, batch_size=8)
    assert batched == [translator.translate([line])[0] for line in sentences]
    assert len(set(batched)) > 1  # the model's outputs depend on its input


def test_output_order_follows_input_order(translator: Translator, sentences: list[str]) -> None:
    forward = translator.translate(sentences, batch_size=5)
    backward = translator.translate(sentences[::-1], batch_size=5)
    assert backward[::-1] == forward


def test_empty_and_whitespace_lines_stay_empty_without_the_model(
    translator: Translator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("the model ran on an empty line")

    monkeypatch.setattr(translator.model, "encode", fail)
    assert translator.translate(["", "   ", "\t \u3000"]) == ["", "", ""]
    ((empty,),) = translator.translate_hypotheses([""], n_best=2, beam_size=2)
    assert (empty.text, empty.score, empty.tokens, empty.alignment) == ("", 0.0, [], [])


def test_overlong_line_is_translated_in_full_chunk_by_chunk(
    translator: Translator, sentences: list[str]
) -> None:
    line = overlong_line(sentences, translator)
    pieces = translator.tokenizer.src_pieces([line])[0]
    chunks = [
        "".join(pieces[a:b]).replace("\u2581", " ").strip()
        for a, b in split_points(pieces, translator.max_src_len)
    ]
    assert len(chunks) >= 4
    assert all(chunk.endswith((".", "?", "!")) for chunk in chunks)  # cut at sentence ends
    ((whole,),) = translator.translate_hypotheses([line])
    assert whole.text == " ".join(translator.translate(chunks))
    assert whole.src_pieces == pieces
    assert whole.attention.shape == (len(whole.tokens), len(pieces))


def test_split_points_prefer_sentence_then_clause_then_word_boundaries() -> None:
    words = ["\u2581a", "b", "\u2581c", ",", "\u2581d", ".", "\u2581e", "f", "\u2581g"]
    assert split_points(words, 9) == [(0, 9)]
    assert split_points(words, 7) == [(0, 6), (6, 9)]  # after "."
    assert split_points(words, 5) == [(0, 4), (4, 9)]  # after ","
    assert split_points(words, 3) == [(0, 2), (2, 4), (4, 6), (6, 9)]  # word, clause, sentence
    assert split_points(["x"] * 5, 2) == [(0, 2), (2, 4), (4, 5)]  # no boundary: fixed size


def pieces_of(text: str) -> list[str]:
    """Whitespace words as SentencePiece would mark them, punctuation split off."""
    pieces = []
    for word in text.split():
        core = word.rstrip('.!?"»)')
        pieces.append("\u2581" + core)
        pieces.extend(word[len(core) :])  # each closing character its own piece
    return pieces


def sentences_of(text: str) -> list[str]:
    pieces = pieces_of(text)
    return [
        "".join(pieces[a:b]).replace("\u2581", " ").strip()
        for a, b in split_points(pieces, 1000, sentences=True)
    ]


def test_sentence_splitting_cuts_at_sentence_ends_only() -> None:
    assert sentences_of("He won. She lost! Why? «No.» 20 more.") == [
        "He won.",
        "She lost!",
        "Why?",
        "«No.»",
        "20 more.",
    ]
    assert sentences_of('He said "I won." Then left.') == ['He said "I won."', "Then left."]
    # abbreviations, initials, a lower-case next word and the line's end are no sentence ends
    for text in (
        "Mr. Smith met Dr. Jones.",
        "Roe v. Wade stands.",
        "John F. Kennedy spoke.",
        "The U.S. Army came.",
        "It rose 5 p.c. in May.",
        "He waited... and left.",
    ):
        assert sentences_of(text) == [text], text


def test_split_sentences_translates_each_sentence_like_its_own_line(
    translator: Translator, sentences: list[str]
) -> None:
    candidates = [s for s in sentences if s.endswith(".") and s[0].isupper()]
    pairs = [(a, b) for a in candidates for b in candidates if a != b]
    # short enough together that only sentence splitting, not the length limit, cuts the line
    first, second = next(
        (a, b)
        for a, b in pairs
        if len(translator.tokenizer.src_pieces([f"{a} {b}"])[0]) <= translator.max_src_len
    )
    line = f"{first} {second}"
    ((whole,),) = translator.translate_hypotheses([line], split_sentences=True)
    alone = translator.translate([first, second])
    assert whole.text == " ".join(alone)
    pieces = translator.tokenizer.src_pieces([line])[0]
    assert whole.attention.shape == (len(whole.tokens), len(pieces))
    # the line was cut in two: the first sentence's translation attends only to its own pieces,
    # the second's only to the rest (one pass over the whole line would spread over both)
    cut = len(translator.tokenizer.src_pieces([first])[0])
    rows = len(translator.translate_hypotheses([first])[0][0].tokens)
    assert len(sentence_spans(pieces)) == 2 and sentence_spans(pieces)[1][0] == cut
    assert whole.attention[:rows, cut:].abs().sum() == 0 < whole.attention[:rows, :cut].sum()
    assert whole.attention[rows:, :cut].abs().sum() == 0 < whole.attention[rows:, cut:].sum()
    # off (the default) translates the line in one piece: its two sentences meet one model state
    assert translator.config.decoding.split_sentences is False
    assert translator.translate([line]) == translator.translate([line], split_sentences=False)


def test_n_best_translations_are_sorted_distinct_and_aligned(
    translator: Translator, sentences: list[str]
) -> None:
    results = translator.translate_hypotheses(sentences[:6], beam_size=4, n_best=4)
    for translations in results:
        assert len(translations) == 4
        scores = [t.score for t in translations]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(t.tokens) for t in translations}) == 4
        for t in translations:
            assert t.text == translator.tokenizer.decode_tgt([t.tokens])[0]
            assert [target for _, target in t.alignment] == list(range(len(t.tokens)))
            assert all(0 <= source < len(t.src_pieces) for source, _ in t.alignment)


def test_greedy_scores_are_normalised_like_beam_scores(
    translator: Translator, sentences: list[str]
) -> None:
    """Beam size 1 runs greedy search; its score is length-normalised as beam search's is."""
    greedy = translator.translate_hypotheses(sentences[:4], beam_size=1, length_penalty=1.0)
    for (g,), line in zip(greedy, sentences[:4], strict=True):
        ids = translator.tokenizer.encode_src([line])[0]
        settings = translator.config.decoding.with_overrides(dict(beam_size=1, length_penalty=1.0))
        # beam search proper, of width 1 (Search itself sends width 1 to greedy)
        ((b,),) = Search(settings).beam(
            translator.model, torch.tensor([ids]), torch.tensor([len(ids)])
        )
        assert g.tokens == b.tokens
        assert g.score == pytest.approx(b.score, abs=1e-5)


def test_invalid_search_settings_are_user_errors(translator: Translator) -> None:
    with pytest.raises(NMTError, match=r"n_best \(3\) must not exceed beam_size \(2\)"):
        translator.translate_hypotheses(["Hi."], beam_size=2, n_best=3)
    with pytest.raises(NMTError, match="beam_size: 0 is out of range; allowed: >= 1"):
        translator.translate(["Hi."], beam_size=0)
    with pytest.raises(NMTError, match="min_len_a: -0.1 is out of range"):
        translator.translate(["Hi."], min_len_a=-0.1)
    with pytest.raises(NMTError, match=r"min_len_a \(2\) must not exceed max_len_a \(1.2\)"):
        translator.translate(["Hi."], min_len_a=2.0, max_len_a=1.2)
    with pytest.raises(NMTError, match="beam_size: expected int, got str"):
        translator.translate(["Hi."], beam_size="5")
    with pytest.raises(NMTError, match="unknown decoding setting.s. beam_width"):
        translator.translate(["Hi."], beam_width=5)


def test_checkpoint_for_another_vocabulary_is_an_error_naming_it(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    state = load_checkpoint(tiny_model_dir / "model.pt")
    wrong = tmp_path / "wrong.pt"
    save_checkpoint({**state, "tgt_vocab_size": state["tgt_vocab_size"] + 1}, wrong)
    with pytest.raises(NMTError, match="wrong.pt.*do not belong together"):
        Translator.from_pretrained(tiny_model_dir, checkpoint=wrong)


def test_missing_model_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NMTError, match="model directory not found"):
        Translator.from_pretrained(tmp_path / "nope")


def test_threads_sets_torch_threads(tiny_model_dir: Path) -> None:
    Translator.from_pretrained(tiny_model_dir, threads=1)
    assert torch.get_num_threads() == 1


def test_import_from_fresh_interpreter_with_model_directory_alone(
    tiny_model_dir: Path, tmp_path: Path, translator: Translator
) -> None:
    code = (
        "import sys\n"
        "from nmt import Translator\n"
        "t = Translator.from_pretrained(sys.argv[1], threads=1)\n"
        "print(t.translate(['Tom is here.', ''])[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tiny_model_dir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PIPE_TIMEOUT,
        check=True,
    )
    assert result.stdout == translator.translate(["Tom is here."])[0] + "\n"


# ---- nmt translate --------------------------------------------------------------------------------


def test_cli_keeps_line_count_with_empty_lines_crlf_bom_and_overlong_line(
    tiny_model_dir: Path, tmp_path: Path, translator: Translator, sentences: list[str]
) -> None:
    lines = ["Tom is here.", "", sentences[0], "   ", overlong_line(sentences, translator), "Hi!"]
    source = tmp_path / "in.txt"
    source.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))  # no final newline
    target = tmp_path / "out.txt"
    assert main(["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(target)]) == 0
    output = target.read_bytes()
    assert b"\r" not in output and not output.startswith(b"\xef\xbb\xbf")
    assert output.decode("utf-8").split("\n") == [*translator.translate(lines), ""]


def test_cli_n_best_and_alignment_format(tiny_model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Tom is here.\n\nHi!\n", encoding="utf-8")
    target = tmp_path / "out.txt"
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(target)]
    assert main([*argv, "--beam-size", "3", "--n-best", "2", "--alignments"]) == 0
    rows = [line.split(" ||| ") for line in target.read_text(encoding="utf-8").splitlines()]
    assert [row[0] for row in rows] == ["0", "0", "1", "2", "2"]
    assert rows[2] == ["1", "", "0.0000", ""]
    for _index, _text, score, alignment in rows:
        float(score)
        pairs = [pair.split("-") for pair in alignment.split()]
        assert [int(t) for _, t in pairs] == list(range(len(pairs)))


def test_cli_split_sentences_flag_overrides_the_config(
    tiny_model_dir: Path, tmp_path: Path, translator: Translator
) -> None:
    lines = ["Tom is here. Mary is there.", "", "Hi! Who are you?"]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o"]
    for flag, split in (("--split-sentences", True), ("--no-split-sentences", False)):
        target = tmp_path / f"{flag}.txt"
        assert main([*argv, str(target), flag]) == 0
        output = target.read_text(encoding="utf-8").splitlines()
        assert output == translator.translate(lines, split_sentences=split)
    split_second = translator.translate(["Hi!", "Who are you?"])
    assert (tmp_path / "--split-sentences.txt").read_text().splitlines()[2] == " ".join(
        split_second
    )


def test_cli_invalid_utf8_is_an_error_naming_the_line_or_replaced(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"Hello.\nBad \xff byte.\n")
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(tmp_path / "o")]
    assert main(argv) == 2
    assert f"{source}:2: invalid UTF-8" in capsys.readouterr().err
    assert main([*argv, "--on-invalid-utf8", "replace"]) == 0
    assert len((tmp_path / "o").read_text(encoding="utf-8").splitlines()) == 2


def test_cli_refuses_to_overwrite_its_input(tiny_model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Hello.\n", encoding="utf-8")
    assert main(["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(source)]) == 2
    assert source.read_text(encoding="utf-8") == "Hello.\n"


def test_cli_pipe_answers_each_line_before_the_next_arrives(
    tiny_model_dir: Path, translator: Translator
) -> None:
    """stdin -> stdout through `python -m nmt`: a line is translated while stdin is still open."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nmt", "translate", "-m", str(tiny_model_dir), "--threads", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        for line in ["Tom is here.", "", "Hi!"]:
            process.stdin.write(line.encode("utf-8") + b"\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], PIPE_TIMEOUT)
            assert ready, "no output while stdin stays open"
            assert (
                process.stdout.readline().decode("utf-8") == translator.translate([line])[0] + "\n"
            )
        process.stdin.close()
        assert process.wait(timeout=PIPE_TIMEOUT) == 0
        assert process.stdout.read() == b""
    finally:
        process.kill()
        process.wait()


def test_cli_coverage_penalty_flag_reaches_the_search_and_refuses_negatives(
    tiny_model_dir: Path,
    tmp_path: Path,
    translator: Translator,
    sentences: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(sentences[:6]) + "\n", encoding="utf-8")
    target = tmp_path / "out.txt"
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(target)]
    assert main([*argv, "--beam-size", "4", "--n-best", "4", "--coverage-penalty", "2.0"]) == 0
    rows = [line.split(" ||| ") for line in target.read_text(encoding="utf-8").splitlines()]
    expected = translator.translate_hypotheses(
        sentences[:6], beam_size=4, n_best=4, coverage_penalty=2.0
    )
    assert [(int(i), text) for i, text, _score in rows] == [
        (index, hypothesis.text) for index, line in enumerate(expected) for hypothesis in line
    ]
    # the penalty changes the scores it writes (beta 0 would give the plain ones)
    plain = translator.translate_hypotheses(sentences[:6], beam_size=4, n_best=4)
    assert [float(score) for *_, score in rows] != pytest.approx(
        [hypothesis.score for line in plain for hypothesis in line], abs=1e-3
    )
    capsys.readouterr()
    assert main([*argv, "--coverage-penalty", "-0.5"]) == 2
    assert "--coverage-penalty: -0.5 is out of range; allowed: >= 0" in capsys.readouterr().err


def expected_chrf_by_sacrebleu(texts: list[str], scores: list[float]) -> list[float]:
    """The MBR utility computed independently: sacrebleu's sentence chrF weighted by exp(score)."""
    metric = CHRF()
    weights = [math.exp(s - max(scores)) for s in scores]
    return [
        sum(
            w * metric.sentence_score(candidate, [other]).score
            for w, other in zip(weights, texts, strict=True)
        )
        / sum(weights)
        for candidate in texts
    ]


def test_mbr_keeps_the_beam_candidate_with_the_best_expected_chrf(
    translator: Translator, sentences: list[str]
) -> None:
    alpha = 1.0
    lines = sentences[:12]
    candidates = translator.translate_hypotheses(lines, beam_size=4, n_best=4, length_penalty=alpha)
    chosen = translator.translate(lines, beam_size=4, length_penalty=alpha, mbr=True)
    assert len(chosen) == len(lines)
    changed = 0
    for line_candidates, text in zip(candidates, chosen, strict=True):
        texts = [t.text for t in line_candidates]
        utilities = expected_chrf_by_sacrebleu(texts, [t.score for t in line_candidates])
        assert utilities[texts.index(text)] == pytest.approx(max(utilities), abs=1e-9)
        changed += text != texts[0]
    assert changed > 0  # on this model MBR is not the most probable candidate every time
    # the n-best list with MBR: every candidate, in MBR order, scores still the model's
    ranked = translator.translate_hypotheses(
        lines, beam_size=4, n_best=4, length_penalty=alpha, mbr=True
    )
    for line_candidates, mbr_candidates, text in zip(candidates, ranked, chosen, strict=True):
        assert mbr_candidates[0].text == text
        assert sorted(t.text for t in mbr_candidates) == sorted(t.text for t in line_candidates)
        assert {t.text: t.score for t in mbr_candidates} == {
            t.text: t.score for t in line_candidates
        }


def test_sampled_mbr_ranks_beam_and_samples_by_mean_chrf_against_the_samples(
    translator: Translator, sentences: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Candidates: the beam's and the samples, each text once; utility: the mean sacrebleu chrF
    against the samples, which are recorded from the search itself."""
    lines = sentences[:8]
    drawn: dict[tuple[int, ...], list[Hypothesis]] = {}

    sample = Search.sample

    def recording(
        self: Search, model: object, src: torch.Tensor, lengths: torch.Tensor, *args: object
    ) -> list[list[Hypothesis]]:
        found = sample(self, model, src, lengths, *args)
        for row, samples in enumerate(found):
            drawn[tuple(src[row, : lengths[row]].tolist())] = samples
        return found

    monkeypatch.setattr(Search, "sample", recording)
    options = dict(beam_size=3, length_penalty=1.0, mbr=True, mbr_samples=6, split_sentences=False)
    ranked = translator.translate_hypotheses(lines, n_best=3, **options)
    beams = translator.translate_hypotheses(lines, beam_size=3, n_best=3, length_penalty=1.0)
    metric = CHRF()
    changed = 0
    for line_ids, top, beam in zip(
        translator.tokenizer.encode_src(lines), ranked, beams, strict=True
    ):
        samples = translator.tokenizer.decode_tgt([h.tokens for h in drawn[tuple(line_ids)]])
        pool = sorted({t.text for t in beam} | set(samples))

        def mean_chrf(text: str, samples: list[str] = samples) -> float:
            return sum(metric.sentence_score(text, [r]).score for r in samples) / len(samples)

        texts = [t.text for t in top]
        assert len(set(texts)) == len(texts) == min(3, len(pool))
        assert set(texts) <= set(pool)
        best = sorted((mean_chrf(t) for t in pool), reverse=True)[: len(texts)]
        assert [mean_chrf(t) for t in texts] == pytest.approx(best, abs=1e-9)
        changed += texts[0] != beam[0].text
    assert changed > 0  # on this model the choice is not always the beam's best
    again = translator.translate(lines, **options)
    assert again == [candidates[0].text for candidates in ranked]  # seeded: the same output


def test_cli_mbr_and_min_len_flags_write_the_translators_choice(
    tiny_model_dir: Path, tmp_path: Path, translator: Translator, sentences: list[str]
) -> None:
    lines = sentences[:12]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(["", *lines]) + "\n", encoding="utf-8")
    target = tmp_path / "out.txt"
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(target)]
    plain = translator.translate(lines, beam_size=4)
    for flags, options in (
        (["--mbr"], {"mbr": True}),
        (["--min-len-a", "1.0"], {"min_len_a": 1.0}),
        (["--mbr", "--mbr-samples", "4"], {"mbr": True, "mbr_samples": 4}),
    ):
        assert main([*argv, "--beam-size", "4", *flags]) == 0
        written = target.read_text(encoding="utf-8").splitlines()
        assert written == ["", *translator.translate(lines, beam_size=4, **options)]
        assert written[1:] != plain  # the flag reached the search


# ---- a model whose weights are NaN ---------------------------------------------------------------


@pytest.fixture(scope="module")
def nan_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model directory with every weight NaN, as a diverged training run leaves it."""
    model_dir = tmp_path_factory.mktemp("nan_model")
    shutil.copytree(tiny_model_dir, model_dir, dirs_exist_ok=True)
    state = load_checkpoint(model_dir / "model.pt")
    state["model"] = {
        name: weight.fill_(math.nan) if weight.is_floating_point() else weight
        for name, weight in state["model"].items()
    }
    save_checkpoint(state, model_dir / "model.pt")
    return model_dir


@pytest.mark.parametrize(
    "options",
    [
        {"beam_size": 1},
        {"beam_size": 3},
        {"beam_size": 3, "n_best": 3},
        {"beam_size": 3, "mbr": True},
        {"beam_size": 3, "mbr": True, "mbr_samples": 4},
    ],
    ids=["greedy", "beam", "n-best", "mbr", "sampled-mbr"],
)
def test_nan_model_answers_every_line_with_a_warning(
    nan_model_dir: Path, translator: Translator, sentences: list[str], options: dict
) -> None:
    nan_translator = Translator.from_pretrained(nan_model_dir)
    lines = ["Tom is here.", "", overlong_line(sentences, translator), "Hi!"]
    with pytest.warns(RuntimeWarning, match="no translation with a finite score"):
        results = nan_translator.translate_hypotheses(lines, **options)
    assert [len(translations) for translations in results] == [1, 1, 1, 1]
    assert [translations[0].score for translations in results] == [
        -math.inf,
        0.0,
        -math.inf,
        -math.inf,
    ]
    best_only = {key: value for key, value in options.items() if key != "n_best"}
    with pytest.warns(RuntimeWarning):
        assert len(nan_translator.translate(lines, **best_only)) == len(lines)


def test_cli_nan_model_writes_one_line_per_input_line_and_warns(
    nan_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Tom is here.\n\nHi!\n", encoding="utf-8")
    target = tmp_path / "out.txt"
    argv = ["translate", "-m", str(nan_model_dir), "-i", str(source), "-o", str(target)]
    assert main(argv) == 0
    assert target.read_text(encoding="utf-8") == "\n\n\n"
    assert "nmt translate: warning: 2 of 2 sentences got no translation" in capsys.readouterr().err
    assert main([*argv, "--beam-size", "2", "--n-best", "2"]) == 0
    rows = [line.split(" ||| ") for line in target.read_text(encoding="utf-8").splitlines()]
    assert rows == [["0", "", "-inf"], ["1", "", "0.0000"], ["2", "", "-inf"]]


# ---- write errors, failed runs, pipes as input -----------------------------------------------------


@pytest.mark.parametrize("to", ["-o /dev/full", "stdout > /dev/full"])
def test_cli_write_error_is_one_line_naming_the_output(
    tiny_model_dir: Path, tmp_path: Path, to: str
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Tom is here.\nHi!\n", encoding="utf-8")
    argv = [sys.executable, "-m", "nmt", "translate", "-m", str(tiny_model_dir), "-i", str(source)]
    argv += ["--threads", "1"]
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [*argv, "-o", "/dev/full"] if to.startswith("-o") else argv,
            stdout=subprocess.PIPE if to.startswith("-o") else full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=PIPE_TIMEOUT,
        )
    name = "/dev/full" if to.startswith("-o") else "<stdout>"
    assert result.returncode == 2
    assert result.stderr == f"nmt translate: error: {name}: cannot write: No space left on device\n"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # written to, never replaced


def test_cli_os_error_of_any_command_is_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    save_config(config_from_dict({}, source="test"), config)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", "exp/model/checkpoints/step_00000100.pt")

    monkeypatch.setattr(train_module, "train", full_disk)
    assert main(["train", str(config)]) == 2
    assert capsys.readouterr().err == (
        "nmt train: error: exp/model/checkpoints/step_00000100.pt: No space left on device\n"
    )


def test_cli_invalid_byte_late_in_the_input_leaves_the_old_output_untouched(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Line 4000 of 4500 is invalid UTF-8, after the first 2000-line chunk was written."""
    blank = b" " * 40 + b"\n"  # translated to "" without the model, so the test stays fast
    source = tmp_path / "in.txt"
    source.write_bytes(b"Hi!\n" + blank * 3998 + b"Bad \xff byte.\n" + blank * 500)
    target = tmp_path / "out.txt"
    target.write_bytes(b"yesterday's translation\n")
    written = []
    format_translations = parallel_module.format_translations

    def recording(*args: object) -> bytes:
        written.append(format_translations(*args))
        return written[-1]

    monkeypatch.setattr(parallel_module, "format_translations", recording)
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(target)]
    assert main(argv) == 2
    assert len(written) >= 1  # output was produced before the error
    assert target.read_bytes() == b"yesterday's translation\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.txt", "out.txt"]


def test_cli_interrupted_run_leaves_the_old_output_untouched(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Tom is here.\n", encoding="utf-8")
    target = tmp_path / "out.txt"
    target.write_bytes(b"yesterday's translation\n")

    def interrupt(*args: object) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel_module, "format_translations", interrupt)
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(target)]
    assert main(argv) == 130
    assert target.read_bytes() == b"yesterday's translation\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.txt", "out.txt"]


@pytest.mark.parametrize("kind", ["fifo", "/dev/fd"])
def test_cli_reads_a_fifo_or_process_substitution(
    tiny_model_dir: Path, tmp_path: Path, translator: Translator, kind: str
) -> None:
    """`-i <(cat file)` hands over /dev/fd/N, a pipe; `mkfifo` makes a named one."""
    lines = ["Tom is here.", "", "Hi!"]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if kind == "fifo":
        path = str(tmp_path / "in.fifo")
        os.mkfifo(path)
        write_end = None
    else:
        read_end, write_end = os.pipe()
        path = f"/dev/fd/{read_end}"

    def write() -> None:
        with open(path, "wb") if write_end is None else os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    target = tmp_path / "out.txt"
    try:
        assert main(["translate", "-m", str(tiny_model_dir), "-i", path, "-o", str(target)]) == 0
    finally:
        if kind == "fifo" and writer.is_alive():  # never opened: let the writer's open return
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(timeout=PIPE_TIMEOUT)
        if kind == "/dev/fd":
            os.close(read_end)
    assert target.read_text(encoding="utf-8").splitlines() == translator.translate(lines)


def test_cli_directory_as_input_or_output_is_an_error_saying_so(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Hi!\n", encoding="utf-8")
    model = ["translate", "-m", str(tiny_model_dir)]
    assert main([*model, "-i", str(tmp_path), "-o", str(tmp_path / "out.txt")]) == 2
    assert f"{tmp_path}: is a directory, not a text file" in capsys.readouterr().err
    assert main([*model, "-i", str(source), "-o", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a directory, not a text file" in capsys.readouterr().err
