"""SentencePiece wrapper: exact round trip, fixed special ids, joint/separate, save/load, pickling."""

from __future__ import annotations

import gzip
import io
import pickle
import random
from pathlib import Path

import pytest
import sentencepiece as spm

from nmt.cli import main
from nmt.config import TokenizerConfig
from nmt.constants import JOINT_SPM_FILE, SRC_SPM_FILE, TGT_SPM_FILE
from nmt.errors import NMTError
from nmt.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Tokenizer,
    TokenizerError,
    train_tokenizer,
)

EN_WORDS = (
    "the cat dog house is was big small red green I you we they have had want to go eat drink "
    "water bread today tomorrow where why when because very quickly slowly morning night friend"
).split()
ES_WORDS = (
    "el la gato perro casa es era grande pequeño rojo verde yo tú nosotros ellos tengo tenía "
    "quiero ir comer beber agua pan hoy mañana dónde por qué cuándo porque muy rápido despacio "
    "niño niña año señor corazón canción también está allí"
).split()

ROUND_TRIP = [
    "¿Dónde está el niño? ¡Qué año tan difícil!",
    "Él comió piña y jamón en la ciudad de León.",
    "Ñandú, pingüino, acción: ÁÉÍÓÚ áéíóú üÜ ñÑ",
    "Hola 👋🏽, ¿todo bien? 🤖🎉",
    "  dos espacios  y un final ",
    "e\u0301 written as e + combining acute",
    "",
]

VOCAB_SIZE = 400  # 4 special ids + 256 byte pieces + characters + a few words


def _corpus(words: list[str], lines: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))).capitalize() + "."
        for _ in range(lines)
    ]


def _write(path: Path, lines: list[str], gz: bool = False) -> str:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("corpus")
    src = _write(directory / "train.en", _corpus(EN_WORDS, 400, seed=1))
    tgt = _write(directory / "train.es", _corpus(ES_WORDS, 400, seed=2))
    return src, tgt


@pytest.fixture(scope="module")
def joint(corpus: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    config = TokenizerConfig(vocab_size=VOCAB_SIZE, joint=True)
    return train_tokenizer(config, [corpus[0]], [corpus[1]], tmp_path_factory.mktemp("joint"))


@pytest.fixture(scope="module")
def separate(corpus: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    config = TokenizerConfig(vocab_size=VOCAB_SIZE, joint=False, model_type="bpe")
    return train_tokenizer(config, [corpus[0]], [corpus[1]], tmp_path_factory.mktemp("separate"))


@pytest.mark.parametrize("kind", ["joint", "separate"])
def test_decode_of_encode_is_identity_for_spanish_accents_punctuation_and_emoji(
    kind: str, request: pytest.FixtureRequest
) -> None:
    tokenizer: Tokenizer = request.getfixturevalue(kind)
    assert tokenizer.decode_tgt(tokenizer.encode_tgt(ROUND_TRIP)) == ROUND_TRIP


def test_unseen_characters_become_bytes_not_unk(joint: Tokenizer) -> None:
    ids = joint.encode_tgt(["🤖 ☃ 漢字"])[0]
    assert UNK_ID not in ids
    assert any(piece.startswith("<0x") for piece in joint.tgt_pieces(["🤖"])[0])


def test_special_ids_are_pad0_unk1_bos2_eos3(joint: Tokenizer) -> None:
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    processor = spm.SentencePieceProcessor(model_proto=joint.__getstate__()["src"])
    assert processor.id_to_piece([PAD_ID, UNK_ID, BOS_ID, EOS_ID]) == [
        "<pad>",
        "<unk>",
        "<s>",
        "</s>",
    ]


def test_encode_adds_neither_bos_nor_eos(joint: Tokenizer) -> None:
    for ids in joint.encode_src(["the cat"]) + joint.encode_tgt(["el gato"]):
        assert BOS_ID not in ids and EOS_ID not in ids


def test_decode_stops_at_first_eos_and_drops_pad_and_bos(joint: Tokenizer) -> None:
    ids = joint.encode_tgt(["el gato"])[0]
    other = joint.encode_tgt(["perro"])[0]
    assert joint.decode_tgt([[BOS_ID, *ids, EOS_ID, *other, PAD_ID]]) == ["el gato"]
    assert joint.decode_tgt([[*ids, PAD_ID, PAD_ID]]) == ["el gato"]
    assert joint.decode_tgt([[EOS_ID, *ids]]) == [""]


def test_pieces_match_ids(separate: Tokenizer) -> None:
    texts = ["the big dog", "el perro grande"]
    assert [len(p) for p in separate.src_pieces(texts)] == [
        len(i) for i in separate.encode_src(texts)
    ]
    assert [len(p) for p in separate.tgt_pieces(texts)] == [
        len(i) for i in separate.encode_tgt(texts)
    ]


def test_joint_training_writes_one_model_separate_writes_two(
    joint: Tokenizer, separate: Tokenizer, tmp_path: Path
) -> None:
    joint.save(tmp_path / "j")
    separate.save(tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == [JOINT_SPM_FILE]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [SRC_SPM_FILE, TGT_SPM_FILE]
    assert joint.joint and not separate.joint
    assert joint.src_vocab_size == joint.tgt_vocab_size == VOCAB_SIZE
    assert separate.src_vocab_size == separate.tgt_vocab_size == VOCAB_SIZE


def test_separate_models_tokenize_each_language_with_its_own_vocabulary(
    separate: Tokenizer,
) -> None:
    assert separate.src_pieces(["corazón"]) != separate.tgt_pieces(["corazón"])


@pytest.mark.parametrize("kind", ["joint", "separate"])
def test_saved_model_dir_loads_to_the_same_tokenizer(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    tokenizer: Tokenizer = request.getfixturevalue(kind)
    tokenizer.save(tmp_path / "model")
    loaded = Tokenizer.load(tmp_path / "model")
    assert loaded.joint == tokenizer.joint
    assert loaded.encode_src(ROUND_TRIP) == tokenizer.encode_src(ROUND_TRIP)
    assert loaded.encode_tgt(ROUND_TRIP) == tokenizer.encode_tgt(ROUND_TRIP)


def test_pickled_tokenizer_encodes_identically(separate: Tokenizer) -> None:
    copy = pickle.loads(pickle.dumps(separate))
    assert copy.encode_src(ROUND_TRIP) == separate.encode_src(ROUND_TRIP)
    assert copy.encode_tgt(ROUND_TRIP) == separate.encode_tgt(ROUND_TRIP)


def test_load_without_model_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match=f"{tmp_path}: no SentencePiece model found"):
        Tokenizer.load(tmp_path)


def test_load_with_only_one_separate_model_is_an_error(separate: Tokenizer, tmp_path: Path) -> None:
    separate.save(tmp_path)
    (tmp_path / TGT_SPM_FILE).unlink()
    with pytest.raises(TokenizerError, match="no SentencePiece model found"):
        Tokenizer.load(tmp_path)


def test_load_rejects_a_model_with_other_special_ids(
    corpus: tuple[str, str], tmp_path: Path
) -> None:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(  # SentencePiece's defaults: unk=0, bos=1, eos=2, no pad
        input=corpus[1], model_writer=model, vocab_size=100, minloglevel=2
    )
    (tmp_path / JOINT_SPM_FILE).write_bytes(model.getvalue())
    with pytest.raises(
        TokenizerError, match=rf"{tmp_path / JOINT_SPM_FILE}: special ids are pad=-1, unk=0"
    ):
        Tokenizer.load(tmp_path)


def test_load_rejects_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / JOINT_SPM_FILE).write_bytes(b"not a model")
    with pytest.raises(
        TokenizerError, match=f"{tmp_path / JOINT_SPM_FILE}: not a SentencePiece model"
    ):
        Tokenizer.load(tmp_path)


def test_gzipped_and_plain_training_files_give_the_same_model(
    corpus: tuple[str, str], tmp_path: Path
) -> None:
    gz_src = _write(tmp_path / "train.en.gz", Path(corpus[0]).read_text().splitlines(), gz=True)
    gz_tgt = _write(tmp_path / "train.es.gz", Path(corpus[1]).read_text().splitlines(), gz=True)
    config = TokenizerConfig(vocab_size=VOCAB_SIZE)
    plain = train_tokenizer(config, [corpus[0]], [corpus[1]], tmp_path / "plain")
    zipped = train_tokenizer(config, [gz_src], [gz_tgt], tmp_path / "gz")
    assert zipped.encode_src(ROUND_TRIP) == plain.encode_src(ROUND_TRIP)


def test_user_defined_symbols_are_single_pieces(corpus: tuple[str, str], tmp_path: Path) -> None:
    config = TokenizerConfig(vocab_size=VOCAB_SIZE, user_defined_symbols=["<2es>", "@@URL@@"])
    tokenizer = train_tokenizer(config, [corpus[0]], [corpus[1]], tmp_path)
    assert tokenizer.src_pieces(["<2es> the cat @@URL@@"])[0].count("<2es>") == 1
    assert "@@URL@@" in tokenizer.src_pieces(["see @@URL@@"])[0]


def test_training_reports_its_progress_on_stderr(
    corpus: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = sum(len(Path(path).read_text().splitlines()) for path in corpus)
    config = TokenizerConfig(vocab_size=VOCAB_SIZE, input_sentence_size=200)
    train_tokenizer(config, [corpus[0]], [corpus[1]], tmp_path)
    err = capsys.readouterr().err
    assert (
        f"SentencePiece: training a unigram model of {VOCAB_SIZE} pieces on 200 of {lines:,} lines"
        in err
    )
    assert "SentencePiece: done in" in err


def test_training_on_a_missing_file_names_it(corpus: tuple[str, str], tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.en")
    with pytest.raises(NMTError, match=f"{missing}: file not found"):
        train_tokenizer(TokenizerConfig(vocab_size=VOCAB_SIZE), [missing], [corpus[1]], tmp_path)


def test_spm_train_command_writes_a_loadable_model_dir(
    corpus: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    argv = ["spm-train", "--src", corpus[0], "--tgt", corpus[1], "-o", str(out)]
    argv += ["--vocab-size", str(VOCAB_SIZE), "--model-type", "bpe", "--separate"]
    assert main(argv) == 0
    assert "separate models, 400/400 pieces" in capsys.readouterr().out
    assert not Tokenizer.load(out).joint


def test_spm_train_command_reads_inputs_and_output_from_a_config(
    corpus: tuple[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data:\n  train_src: [{corpus[0]}]\n  train_tgt: [{corpus[1]}]\n"
        f"tokenizer:\n  vocab_size: {VOCAB_SIZE}\n"
        f"training:\n  model_dir: {tmp_path / 'exp'}\n"
    )
    assert main(["spm-train", "-c", str(config)]) == 0
    assert Tokenizer.load(tmp_path / "exp").src_vocab_size == VOCAB_SIZE
