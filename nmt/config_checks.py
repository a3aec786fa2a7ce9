"""How a configuration value is checked: its type (from the dataclass annotation) and the
values its field declares (a :class:`Range` or a tuple of choices, via :func:`option`). Errors
name where the value came from (file and key, or the ``--set`` override)."""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from nmt.errors import NMTError


class ConfigError(NMTError):
    """A configuration file or override is invalid."""


@dataclass(frozen=True)
class Range:
    """The numbers an option may take: from ``low`` to ``high``, each bound included unless
    ``open_low``/``open_high``; a float must also be finite (NaN passes every comparison
    unnoticed, and inf is no setting). ``length``: the option is a list of exactly that many
    numbers, each in the range."""

    low: float
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False
    length: int | None = None

    def holds(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return math.isfinite(value) and above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            bounds = f"{'>' if self.open_low else '>='} {self.low:g}"
        else:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            bounds = f"{left}{self.low:g}, {self.high:g}{right}"
        return bounds if self.length is None else f"{self.length} values, each in {bounds}"


AT_LEAST_ONE = Range(1)  # counts and sizes for which 0 means nothing
ZERO_OR_MORE = Range(0)  # for a count, the field's comment says what 0 means (off, no limit...)
POSITIVE = Range(0, open_low=True)
FRACTION = Range(0, 1, open_high=True)  # probabilities: 1 would drop or smooth away everything


def option(
    default: Any, allowed: Range | tuple[str, ...] | None, help: str = "", metavar: str = ""
) -> Any:
    """A dataclass field with its default, the values :func:`check_allowed` accepts for it (None:
    any of its type) and, for options that are also command-line flags, their help text."""
    metadata = {"allowed": allowed, "help": help, "metavar": metavar}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def check_value(value: Any, annotation: Any, where: str) -> Any:
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
                return check_value(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if item_type is str and isinstance(value, str):  # a single path where a list is expected
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return [check_value(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
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


def check_allowed(value: Any, allowed: Range | tuple[str, ...], where: str) -> None:
    """Raise a ConfigError naming ``where``, the value and ``allowed`` unless the value is in it."""
    if isinstance(allowed, tuple):
        if value not in allowed:
            raise ConfigError(f"{where}: '{value}' is not one of {', '.join(allowed)}")
        return
    if allowed.length is None:
        holds = allowed.holds(value)
    else:
        holds = len(value) == allowed.length and all(allowed.holds(v) for v in value)
    if not holds:
        raise ConfigError(f"{where}: {value!r} is out of range; allowed: {allowed}")
