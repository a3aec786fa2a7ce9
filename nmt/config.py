"""Typed configuration: dataclasses read from YAML, validated, overridable from the command line.

A config file has up to five sections, one per dataclass below. Every key is checked: an unknown
key or a value of the wrong type is a :class:`ConfigError` that names the key and the file.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nmt.errors import NMTError


class ConfigError(NMTError):
    """A configuration file or override is invalid."""


@dataclass
class DataConfig:
    """Where the parallel text comes from and how it is cleaned."""

    src_lang: str = "en"
    tgt_lang: str = "es"
    # Local corpora: lists of line-aligned files (plain or .gz), concatenated in order.
    train_src: list[str] = field(default_factory=list)
    train_tgt: list[str] = field(default_factory=list)
    dev_src: str | None = None
    dev_tgt: str | None = None
    # Hugging Face hub corpus, used when train_src is empty.
    hf_name: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    hf_src_column: str = "translation.en"
    hf_tgt_column: str = "translation.es"
    # Filters, in subword pieces (before BOS/EOS are added).
    min_len: int = 1
    max_len: int = 100
    max_ratio: float = 3.0
    # Training pairs (a fraction, picked by a hash of the source) whose final period is removed
    # from both sides: without them an unpunctuated input reads as a headline (nmt.data explains).
    drop_final_period: float = 0.0
    # Tokenization with datasets.map: worker processes and Arrow cache location.
    num_proc: int = 1
    cache_dir: str | None = None
    streaming: bool = False


@dataclass
class TokenizerConfig:
    """SentencePiece subword model(s)."""

    model_type: str = "unigram"  # unigram | bpe
    vocab_size: int = 8000
    joint: bool = True  # one model for both languages, or one per language
    character_coverage: float = 1.0  # 1.0 keeps every accented letter of Spanish
    user_defined_symbols: list[str] = field(default_factory=list)
    input_sentence_size: int = 2_000_000  # sentences sampled to train SentencePiece
    seed: int = 1


@dataclass
class ModelConfig:
    """The recurrent encoder-decoder. ``preset`` fills every field it names first."""

    preset: str | None = None
    cell: str = "gru"  # gru | lstm | rnn
    emb_size: int = 256
    encoder_hidden: int = 256  # per direction
    encoder_layers: int = 1
    bidirectional: bool = True
    decoder_hidden: int = 512
    decoder_layers: int = 1
    attention: str = "bahdanau"  # bahdanau | dot | general
    # Bahdanau's hidden layer, whose (queries x source positions x size) sigmoid is the largest
    # elementwise cost of a step; 0: decoder_hidden
    attention_size: int = 0
    input_feeding: bool = True
    # Run the decoder RNN over the whole target at once in training; this variant has no input
    # feeding (a step that needs the previous attention cannot be fused), so input_feeding is unused.
    fused_decoder: bool = False
    tie_embeddings: bool = False  # output projection shares the target embeddings
    # source and target embeddings are one matrix (a joint vocabulary): a name's pieces mean the
    # same on both sides, which helps copying them
    share_embeddings: bool = False
    # copy attention (pointer-generator): a gate mixes the attention over the source pieces into
    # the output distribution, so names and numbers can be copied; needs a joint vocabulary
    copy_attention: bool = False
    dropout: float = 0.1


@dataclass
class TrainingConfig:
    """The training loop: optimisation, schedule, validation, checkpoints."""

    model_dir: str = "exp/model"
    seed: int = 1234
    max_tokens: int = 2000  # target tokens per batch: sentences x (longest target + EOS)
    max_steps: int = 0  # 0 = no limit
    max_epochs: int = 10
    max_minutes: float = 0.0  # stop after this much training time, resumed runs included; 0 = none
    optimizer: str = "adam"  # adam | adamw
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    clip_norm: float = 5.0
    label_smoothing: float = 0.1
    schedule: str = "constant"  # constant | inverse_sqrt | plateau | decay
    warmup_steps: int = 0
    decay_fraction: float = 0.2  # decay: the last fraction of the budget anneals lr to min_lr
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    min_lr: float = 1e-5
    valid_every: int = 1000
    valid_metric: str = "bleu"  # bleu | chrf | loss
    valid_beam_size: int = 1
    valid_max_sentences: int = 1000
    early_stopping_patience: int = 0  # validations without improvement; 0 = never stop early
    keep_best: int = 3
    keep_last: int = 1
    log_every: int = 100
    threads: int = 0  # torch.set_num_threads; 0 leaves torch's default
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"  # fp32 | bf16 | fp16 | auto (bf16 where the hardware has it)
    update_freq: int = 1  # gradient accumulation: batches per optimizer step
    max_nonfinite_updates: int = 5  # NaN/inf updates in a row (each skipped) before it stops


@dataclass
class DecodingConfig:
    """Search settings used by validation and as the translator's defaults."""

    beam_size: int = 5
    length_penalty: float = 1.0  # GNMT alpha; 0 disables
    max_len_a: float = 1.5  # output limit: a * source_length + b pieces
    max_len_b: int = 10
    min_len_a: float = 0.0  # output minimum: floor(a * source_length) pieces; 0 disables
    batch_size: int = 64  # sentences per batch
    n_best: int = 1
    split_sentences: bool = False  # translate each sentence of a line on its own (nmt.translator)
    no_repeat_ngram: int = 0  # n >= 2: never repeat an n-gram of target pieces (nmt.search)
    coverage_penalty: float = 0.0  # GNMT beta (beam search): rank down hypotheses that left
    # source pieces unattended; 0 disables (nmt.search)
    mbr: bool = False  # keep the beam's candidate with the best expected chrF against the
    # others (minimum Bayes risk, nmt.mbr) instead of the most probable one
    mbr_samples: int = 0  # with mbr: pseudo-references sampled from the model (also candidates,
    # beside the beam's) instead of the beam's candidates; 0: the beam's
    sampling_epsilon: float = 0.02  # epsilon sampling: draw among tokens of probability >= this


# Weight precisions for translation (nmt.quantization); training precision is training.precision.
TRANSLATION_PRECISIONS = ("fp32", "int8")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)


# Named model sizes, so a recipe names a model in one word and overrides what it needs.
MODEL_PRESETS: dict[str, dict[str, Any]] = {
    # For tests and smoke runs: trains in seconds.
    "tiny": dict(emb_size=32, encoder_hidden=32, decoder_hidden=64, dropout=0.0),
    # The peers' reference configuration (shared/bench/peers): a 2-core CPU trains it in hours.
    "small": dict(emb_size=256, encoder_hidden=256, decoder_hidden=512),
    # For one GPU.
    "base": dict(
        emb_size=512,
        encoder_hidden=512,
        encoder_layers=2,
        decoder_hidden=1024,
        decoder_layers=2,
        dropout=0.3,
        tie_embeddings=False,
    ),
}

_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}


def _check_value(value: Any, annotation: Any, where: str) -> Any:
    """Return ``value`` converted to ``annotation`` or raise a ConfigError naming ``where``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_value(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if item_type is str and isinstance(value, str):  # a single path where a list is expected
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return [_check_value(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if annotation in (int, float, str) and not isinstance(value, annotation):
        raise ConfigError(
            f"{where}: expected {annotation.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _section_from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(
                f"{where}: unknown key '{key}' (known keys: {', '.join(sorted(names))})"
            )
        kwargs[key] = _check_value(value, hints[key], f"{where}.{key}")
    if cls is ModelConfig and kwargs.get("preset") is not None:
        preset = kwargs["preset"]
        if preset not in MODEL_PRESETS:
            raise ConfigError(
                f"{where}.preset: unknown preset '{preset}' (known: {', '.join(MODEL_PRESETS)})"
            )
        kwargs = {**MODEL_PRESETS[preset], **kwargs}
    return cls(**kwargs)


def _validate(config: Config, source: str) -> None:
    choices = {
        "model.cell": (config.model.cell, ("gru", "lstm", "rnn")),
        "model.attention": (config.model.attention, ("bahdanau", "dot", "general")),
        "tokenizer.model_type": (config.tokenizer.model_type, ("unigram", "bpe")),
        "training.optimizer": (config.training.optimizer, ("adam", "adamw")),
        "training.schedule": (
            config.training.schedule,
            ("constant", "inverse_sqrt", "plateau", "decay"),
        ),
        "training.valid_metric": (config.training.valid_metric, ("bleu", "chrf", "loss")),
        "training.device": (config.training.device, ("auto", "cpu", "cuda")),
        "training.precision": (config.training.precision, ("fp32", "bf16", "fp16", "auto")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{source}: {key}: '{value}' is not one of {', '.join(allowed)}")
    if len(config.data.train_src) != len(config.data.train_tgt):
        raise ConfigError(
            f"{source}: data.train_src and data.train_tgt list different numbers of files"
        )
    if config.model.attention_size < 0:
        raise ConfigError(f"{source}: model.attention_size must be 0 (decoder_hidden) or more")
    if not 0 <= config.data.drop_final_period <= 1:
        raise ConfigError(f"{source}: data.drop_final_period must be in [0, 1]")
    if config.training.update_freq < 1:
        raise ConfigError(f"{source}: training.update_freq must be at least 1")
    if config.training.schedule == "decay":
        if config.training.max_minutes <= 0 and config.training.max_steps <= 0:
            raise ConfigError(
                f"{source}: training.schedule 'decay' needs a budget to decay towards: "
                "training.max_minutes or training.max_steps"
            )
        if not 0 < config.training.decay_fraction <= 1:
            raise ConfigError(f"{source}: training.decay_fraction must be in (0, 1]")


def config_from_dict(values: dict[str, Any], source: str = "<dict>") -> Config:
    """Build a validated Config from a nested mapping; ``source`` names it in errors."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    sections = {}
    for key, value in values.items():
        if key not in _SECTIONS:
            raise ConfigError(
                f"{source}: unknown section '{key}' (known sections: {', '.join(_SECTIONS)})"
            )
        cls = typing.get_type_hints(Config)[key]
        sections[key] = _section_from_dict(cls, value or {}, f"{source}: {key}")
    config = Config(**sections)
    _validate(config, source)
    return config


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value`` into its key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override '{text}': expected section.key=value, e.g. training.lr=5e-4")
    key, raw = text.split("=", 1)
    path = key.strip().split(".")
    if len(path) != 2 or not all(path):
        raise ConfigError(f"override '{text}': the key must be section.key, e.g. training.lr")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise ConfigError(f"override '{text}': value is not valid YAML ({error})") from None
    if isinstance(value, str) and _looks_like_float(value):
        value = float(value)  # YAML 1.1 reads 5e-4 as a string
    return path, value


def _looks_like_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    values: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            values = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
    for text in overrides:
        (section, key), value = parse_override(text)
        if not isinstance(values.get(section, {}), dict):
            raise ConfigError(f"{source}: section '{section}' is not a mapping")
        values.setdefault(section, {})
        if values[section] is None:
            values[section] = {}
        values[section][key] = value
    return config_from_dict(values, source)


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that reads 5e-4 and 1e3 as floats (YAML 1.1 wants a dot and a sign)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def config_to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config (every field, presets expanded) as YAML."""
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False, allow_unicode=True)
    Path(path).write_text(text, encoding="utf-8")
