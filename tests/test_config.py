"""Configs: unknown keys and wrong types name the key and the file; overrides; presets; round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmt.config import MODEL_PRESETS, ConfigError, config_to_dict, load_config, save_config


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
    with pytest.raises(ConfigError, match=r"decay_fraction must be in \(0, 1\]"):
        load_config(
            write(tmp_path, "training:\n  schedule: decay\n  max_steps: 9\n  decay_fraction: 0\n")
        )


def test_out_of_range_fraction_and_size_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.drop_final_period must be in \[0, 1\]"):
        load_config(write(tmp_path, "data:\n  drop_final_period: 1.5\n"))
    with pytest.raises(ConfigError, match="model.attention_size must be 0"):
        load_config(write(tmp_path, "model:\n  attention_size: -1\n"))


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
