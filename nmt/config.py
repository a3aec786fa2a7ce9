"""Typed configuration: dataclasses read from YAML, validated, overridable from the command line.

A config file has up to five sections, one per dataclass below. Every key is checked: an unknown
key, a value of the wrong type or outside the values its field declares (``allowed`` in the
field's metadata: a :class:`Range` or a tuple of choices) is a :class:`ConfigError` that names the
file, the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nmt.config_checks import (
    AT_LEAST_ONE,
    FRACTION,
    POSITIVE,
    ZERO_OR_MORE,
    ConfigError,
    Range,
    check_allowed,
    check_value,
    option,
)
from nmt.decoding import DecodingConfig

DECODERS = ("input_feeding", "fused")  # model.decoder: the two decoder variants


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
    # Filters, in subword pieces (before BOS/EOS are added). max_len is also the longest input
    # the translator hands the model at once (nmt.translator): a sentence needs 2 pieces or more.
    min_len: int = option(1, AT_LEAST_ONE)
    max_len: int = option(100, Range(2))
    max_ratio: float = option(3.0, Range(1))  # longer side / shorter side, so never under 1
    # Training pairs (a fraction, picked by a hash of the source) whose final period is removed
    # from both sides: without them an unpunctuated input reads as a headline (nmt.data explains).
    drop_final_period: float = option(0.0, Range(0, 1))
    # Tokenization with datasets.map: worker processes and Arrow cache location.
    num_proc: int = option(1, AT_LEAST_ONE)
    cache_dir: str | None = None
    streaming: bool = False


@dataclass
class TokenizerConfig:
    """SentencePiece subword model(s)."""

    model_type: str = option("unigram", ("unigram", "bpe"))
    vocab_size: int = option(8000, AT_LEAST_ONE)
    joint: bool = True  # one model for both languages, or one per language
    # 1.0 keeps every accented letter of Spanish
    character_coverage: float = option(1.0, Range(0, 1, open_low=True))
    user_defined_symbols: list[str] = field(default_factory=list)
    # sentences sampled to train SentencePiece; 0: all
    input_sentence_size: int = option(2_000_000, ZERO_OR_MORE)
    seed: int = option(1, ZERO_OR_MORE)


@dataclass
class ModelConfig:
    """The recurrent encoder-decoder. ``preset`` fills every field it names first."""

    preset: str | None = None
    cell: str = option("gru", ("gru", "lstm", "rnn"))
    emb_size: int = option(256, AT_LEAST_ONE)
    encoder_hidden: int = option(256, AT_LEAST_ONE)  # per direction
    encoder_layers: int = option(1, AT_LEAST_ONE)
    bidirectional: bool = True
    decoder_hidden: int = option(512, AT_LEAST_ONE)
    decoder_layers: int = option(1, AT_LEAST_ONE)
    attention: str = option("bahdanau", ("bahdanau", "dot", "general"))
    # Bahdanau's hidden layer, whose (queries x source positions x size) sigmoid is the largest
    # elementwise cost of a step; 0: decoder_hidden
    attention_size: int = option(0, ZERO_OR_MORE)
    # input_feeding: each step is also fed the previous attentional vector (Luong et al., 2015);
    # fused: no such feedback, so training runs the decoder RNN over the whole target at once
    decoder: str = option("input_feeding", DECODERS)
    tie_embeddings: bool = False  # output projection shares the target embeddings
    # source and target embeddings are one matrix (a joint vocabulary): a name's pieces mean the
    # same on both sides, which helps copying them
    share_embeddings: bool = False
    # copy attention (pointer-generator): a gate mixes the attention over the source pieces into
    # the output distribution, so names and numbers can be copied; needs a joint vocabulary
    copy_attention: bool = False
    dropout: float = option(0.1, FRACTION)


@dataclass
class TrainingConfig:
    """The training loop: optimisation, schedule, validation, checkpoints."""

    model_dir: str = "exp/model"
    seed: int = option(1234, ZERO_OR_MORE)  # numpy's generators take no negative seed
    # target tokens per batch: sentences x (longest target + EOS)
    max_tokens: int = option(2000, AT_LEAST_ONE)
    max_steps: int = option(0, ZERO_OR_MORE)  # 0 = no limit
    max_epochs: int = option(10, ZERO_OR_MORE)  # 0 = no limit
    # stop after this much training time, resumed runs included; 0 = none
    max_minutes: float = option(0.0, ZERO_OR_MORE)
    optimizer: str = option("adam", ("adam", "adamw"))
    lr: float = option(1e-3, POSITIVE)
    betas: list[float] = option([0.9, 0.999], Range(0, 1, open_high=True, length=2))
    weight_decay: float = option(0.0, ZERO_OR_MORE)
    clip_norm: float = option(5.0, ZERO_OR_MORE)  # gradient norm clipping; 0 = none
    label_smoothing: float = option(0.1, FRACTION)
    schedule: str = option("constant", ("constant", "inverse_sqrt", "plateau", "decay"))
    warmup_steps: int = option(0, ZERO_OR_MORE)
    # decay: the last fraction of the budget anneals lr to min_lr
    decay_fraction: float = option(0.2, Range(0, 1, open_low=True))
    plateau_factor: float = option(0.5, Range(0, 1, open_low=True, open_high=True))
    plateau_patience: int = option(2, ZERO_OR_MORE)
    min_lr: float = option(1e-5, ZERO_OR_MORE)  # at most lr
    valid_every: int = option(1000, AT_LEAST_ONE)
    valid_metric: str = option("bleu", ("bleu", "chrf", "loss"))
    valid_beam_size: int = option(1, AT_LEAST_ONE)
    valid_max_sentences: int = option(1000, AT_LEAST_ONE)
    # validations without improvement; 0 = never stop early
    early_stopping_patience: int = option(0, ZERO_OR_MORE)
    keep_best: int = option(3, ZERO_OR_MORE)  # 0: no step checkpoint kept for its score
    keep_last: int = option(1, AT_LEAST_ONE)
    log_every: int = option(100, AT_LEAST_ONE)
    threads: int = option(0, ZERO_OR_MORE)  # torch.set_num_threads; 0 leaves torch's default
    device: str = option("auto", ("auto", "cpu", "cuda"))
    # auto: bf16 where the hardware has it
    precision: str = option("fp32", ("fp32", "bf16", "fp16", "auto"))
    # gradient accumulation: batches per optimizer step
    update_freq: int = option(1, AT_LEAST_ONE)
    # NaN/inf updates in a row (each skipped) before it stops
    max_nonfinite_updates: int = option(5, AT_LEAST_ONE)  # NaN/inf updates in a row: stop
    tensorboard: bool = False  # also write curves for TensorBoard to MODEL_DIR/tensorboard/


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


def _section_from_dict(
    cls: type, values: dict[str, Any], where: str, overridden: dict[str, str]
) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {values!r}")
    if cls is ModelConfig:
        values = _map_old_decoder_keys(values, where)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(
                f"{where}: unknown key '{key}' (known keys: {', '.join(sorted(names))})"
            )
        kwargs[key] = check_value(value, hints[key], overridden.get(key, f"{where}.{key}"))
    if cls is ModelConfig and kwargs.get("preset") is not None:
        preset = kwargs["preset"]
        if preset not in MODEL_PRESETS:
            raise ConfigError(
                f"{where}.preset: unknown preset '{preset}' (known: {', '.join(MODEL_PRESETS)})"
            )
        kwargs = {**MODEL_PRESETS[preset], **kwargs}
    return cls(**kwargs)


def _map_old_decoder_keys(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Model directories written before ``model.decoder`` name the variant with two keys,
    ``fused_decoder`` and ``input_feeding`` (fused won over input feeding): they still load."""
    old = {key: values[key] for key in ("fused_decoder", "input_feeding") if key in values}
    if not old:
        return values
    for key, value in old.items():
        check_value(value, bool, f"{where}.{key}")
    fused = old.get("fused_decoder", False) or not old.get("input_feeding", True)
    decoder = "fused" if fused else "input_feeding"
    if values.get("decoder", decoder) != decoder:
        raise ConfigError(
            f"{where}: decoder '{values['decoder']}' contradicts the older keys "
            f"{', '.join(f'{k}: {v}' for k, v in old.items())}; keep decoder alone"
        )
    warnings.warn(
        f"{where}: {' and '.join(old)} {'is' if len(old) == 1 else 'are'} deprecated; read as "
        f"decoder: {decoder} "
        "(write that instead)",
        FutureWarning,
        stacklevel=2,
    )
    return {key: value for key, value in values.items() if key not in old} | {"decoder": decoder}


def _validate(config: Config, source: str, overridden: dict[str, str]) -> None:
    """Check every field against the values it declares, then what no single field can say."""
    for section in dataclasses.fields(config):
        values = getattr(config, section.name)
        for spec in dataclasses.fields(values):
            if spec.metadata.get("allowed") is not None:
                key = f"{section.name}.{spec.name}"
                where = overridden.get(key, f"{source}: {key}")
                check_allowed(getattr(values, spec.name), spec.metadata["allowed"], where)
    data, training, decoding = config.data, config.training, config.decoding
    if len(data.train_src) != len(data.train_tgt):
        raise ConfigError(
            f"{source}: data.train_src and data.train_tgt list different numbers of files"
        )
    pairs = [
        ("data.min_len", data.min_len, "data.max_len", data.max_len),
        ("training.min_lr", training.min_lr, "training.lr", training.lr),
    ]
    for small_key, small, large_key, large in pairs:
        if small > large:
            raise ConfigError(
                f"{source}: {small_key} ({small:g}) must not exceed {large_key} ({large:g})"
            )
    try:
        decoding.check_rules(lambda name: f"decoding.{name}")
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    if training.schedule == "decay" and training.max_minutes <= 0 and training.max_steps <= 0:
        raise ConfigError(
            f"{source}: training.schedule 'decay' needs a budget to decay towards: "
            "training.max_minutes or training.max_steps"
        )


def config_from_dict(
    values: dict[str, Any], source: str = "<dict>", overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Build a validated Config from a nested mapping; ``source`` names it in errors, and a value
    given by one of ``overrides`` (``section.key=value``) is named by that override instead."""
    overridden = {}
    for text in overrides:
        (section, key), _ = parse_override(text)
        overridden[f"{section}.{key}"] = f"--set {text}: {section}.{key}"
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
        in_section = {
            name.split(".", 1)[1]: where
            for name, where in overridden.items()
            if name.split(".", 1)[0] == key
        }
        sections[key] = _section_from_dict(cls, value or {}, f"{source}: {key}", in_section)
    config = Config(**sections)
    _validate(config, source, overridden)
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
    return config_from_dict(values, source, overrides)


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
