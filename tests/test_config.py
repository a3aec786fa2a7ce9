"""Configs: unknown keys, wrong types and out-of-range values name the key and the file;
overrides; presets; round trip; the shipped configs load."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from nmt.config import (
    MODEL_PRESETS,
    Config,
    ConfigError,
    config_to_dict,
    load_config,
    save_config,
)
from nmt.segmentation import split_points

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=rf"{path}: training: unknown key 'learning_rate'"):
        load_config(path)


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown section 'optim'"):
        load_config(write(tmp_path, "optim:\n  lr: 1\n"))


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"training\.max_steps: expected int, got str 'many'"):
        load_config(write(tmp_path, "training:\n  max_steps: many\n"))
    with pytest.raises(ConfigError, match=r"model\.bidirectional: expected true or false"):
        load_config(write(tmp_path, "model:\n  bidirectional: 1\n"))


def test_invalid_choice_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model.cell: 'transformer' is not one of gru, lstm, rnn"):
        load_config(write(tmp_path, "model:\n  cell: transformer\n"))


def test_decay_schedule_needs_a_budget(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'decay' needs a budget"):
        load_config(write(tmp_path, "training:\n  schedule: decay\n"))


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("training.valid_every", "0", ">= 1"),
        ("training.log_every", "0", ">= 1"),
        ("training.lr", "-1", "> 0"),
        ("training.lr", ".nan", "> 0"),
        ("training.betas", "[0.9]", "2 values, each in [0, 1)"),
        ("training.betas", "[0.9, 1.0]", "2 values, each in [0, 1)"),
        ("model.emb_size", "0", ">= 1"),
        ("model.dropout", "1.5", "[0, 1)"),
        ("training.label_smoothing", "2", "[0, 1)"),
        ("data.max_len", "0", ">= 2"),
        ("training.max_tokens", "0", ">= 1"),
        ("training.decay_fraction", "0", "(0, 1]"),
        ("training.min_lr", "-1e-5", ">= 0"),
        ("training.max_minutes", ".inf", ">= 0"),
        ("data.drop_final_period", "1.5", "[0, 1]"),
        ("model.attention_size", "-1", ">= 0"),
        ("decoding.beam_size", "0", ">= 1"),
        ("decoding.length_penalty", "-0.5", ">= 0"),
        ("decoding.length_penalty", ".inf", ">= 0"),
        ("decoding.sampling_epsilon", "1", "[0, 1)"),
    ],
)
def test_out_of_range_value_names_the_file_key_value_and_allowed_range(
    tmp_path: Path, key: str, value: str, allowed: str
) -> None:
    section, name = key.split(".")
    path = write(tmp_path, f"{section}:\n  {name}: {value}\n")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(f'{path}: {key}: ')}.*{re.escape(allowed)}"
    ):
        load_config(path)


def test_out_of_range_override_is_an_error_naming_the_override(tmp_path: Path) -> None:
    path = tmp_path / "conf.yaml"
    path.write_text("training:\n  lr: 0.001\n")
    with pytest.raises(
        ConfigError, match=r"^--set training\.valid_every=0: training\.valid_every: 0 .*>= 1"
    ):
        load_config(path, ["training.lr=2e-3", "training.valid_every=0"])
    with pytest.raises(ConfigError, match=r"^--set model\.emb_size=big: model\.emb_size: "):
        load_config(path, ["model.emb_size=big"])
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: training\.lr: "):
        path.write_text("training:\n  lr: -1\n")
        load_config(path, ["training.valid_every=5"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.min_len=5", "data.max_len=4"], "data.min_len (5) must not exceed data.max_len (4)"),
        (["training.lr=1e-4", "training.min_lr=1e-3"], "training.min_lr (0.001) must not exceed"),
        (["decoding.no_repeat_ngram=1"], "decoding.no_repeat_ngram: 1"),
        (["decoding.min_len_a=2", "decoding.max_len_a=1.5"], "decoding.min_len_a (2)"),
        (["decoding.beam_size=2", "decoding.n_best=3"], "decoding.n_best (3)"),
    ],
)
def test_inconsistent_values_name_both_keys(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, overrides)


def test_values_on_the_bounds_are_accepted() -> None:
    config = load_config(
        None,
        [
            "model.dropout=0.0",
            "model.attention_size=0",
            "training.label_smoothing=0",
            "training.max_steps=0",
            "training.max_epochs=0",
            "training.clip_norm=0",
            "training.min_lr=0",
            "training.betas=[0.0, 0.0]",
            "data.max_len=2",
            "data.min_len=2",
            "data.drop_final_period=1",
            "decoding.length_penalty=0",
            "decoding.no_repeat_ngram=2",
            "decoding.n_best=5",
        ],
    )
    assert config.data.max_len == 2 and config.decoding.n_best == config.decoding.beam_size


def test_every_numeric_option_declares_its_allowed_values() -> None:
    numeric = (int, float, list[float])
    for section in dataclasses.fields(Config):
        cls = typing.get_type_hints(Config)[section.name]
        hints = typing.get_type_hints(cls)
        for option in dataclasses.fields(cls):
            if hints[option.name] in numeric:
                assert "allowed" in option.metadata, f"{section.name}.{option.name}"


def test_split_points_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="limit must be at least 1, got 0"):
        split_points(["▁a", "▁b"], 0)


@pytest.mark.parametrize(
    "path",
    [
        *sorted((REPO / "recipes/en_es/conf").glob("*.yaml")),
        REPO / "tools/reference/reference.yaml",
    ],
    ids=lambda path: path.name,
)
def test_shipped_configs_load(path: Path) -> None:
    load_config(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_parse_yaml_values_including_exponents(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "training:\n  lr: 1e-3\n"),
        [
            "training.lr=5e-4",
            "model.cell=lstm",
            "data.train_src=[a.en, b.en]",
            "data.train_tgt=[a.es, b.es]",
        ],
    )
    assert config.training.lr == 5e-4 and config.model.cell == "lstm"
    assert config.data.train_src == ["a.en", "b.en"]
    with pytest.raises(ConfigError, match="expected section.key=value"):
        load_config(None, ["training.lr"])
    with pytest.raises(ConfigError, match="unknown key 'lrate'"):
        load_config(None, ["training.lrate=1"])


def test_preset_fills_fields_and_explicit_keys_win(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "model:\n  preset: small\n  dropout: 0.3\n"))
    assert config.model.decoder_hidden == MODEL_PRESETS["small"]["decoder_hidden"]
    assert config.model.dropout == 0.3
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        load_config(None, ["model.preset=huge"])


def test_saved_config_loads_back_identically(tmp_path: Path) -> None:
    config = load_config(None, ["model.preset=tiny", "training.lr=2e-4"])
    save_config(config, tmp_path / "saved.yaml")
    assert config_to_dict(load_config(tmp_path / "saved.yaml")) == config_to_dict(config)


@pytest.mark.parametrize(
    ("old", "decoder"),
    [
        ({"fused_decoder": True}, "fused"),
        ({"fused_decoder": True, "input_feeding": True}, "fused"),
        ({"input_feeding": False}, "fused"),
        ({"fused_decoder": False, "input_feeding": True}, "input_feeding"),
        ({"input_feeding": True}, "input_feeding"),
    ],
)
def test_old_model_directories_with_two_decoder_keys_still_load(
    tmp_path: Path, old: dict, decoder: str
) -> None:
    """config.yaml files written before model.decoder: read and mapped, with a note."""
    path = tmp_path / "config.yaml"
    path.write_text("model:\n" + "".join(f"  {k}: {str(v).lower()}\n" for k, v in old.items()))
    with pytest.warns(FutureWarning, match=f"deprecated; read as decoder: {decoder}"):
        assert load_config(path).model.decoder == decoder
    with pytest.warns(FutureWarning):
        assert load_config(None, ["model.fused_decoder=true"]).model.decoder == "fused"


def test_decoder_contradicting_an_old_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  decoder: input_feeding\n  fused_decoder: true\n")
    with pytest.raises(ConfigError, match="decoder 'input_feeding' contradicts"):
        load_config(path)
