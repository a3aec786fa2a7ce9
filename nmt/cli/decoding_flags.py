"""Command-line flags for the decoding settings, built from :class:`nmt.decoding.DecodingConfig`.

A field ``beam_size`` becomes ``--beam-size`` with the field's help text, type and choices; a
bool becomes ``--mbr`` / ``--no-mbr``. Every flag defaults to None: the model's config decides.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from nmt.decoding import DecodingConfig, decoding_types


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def add_decoding_flags(group: argparse._ArgumentGroup, skip: tuple[str, ...] = ()) -> None:
    """One flag per decoding setting, except those in ``skip`` (added by the caller with help
    of its own, under the same name)."""
    types = decoding_types()
    for spec in dataclasses.fields(DecodingConfig):
        if spec.name in skip:
            continue
        kind = types[spec.name]
        options: dict[str, Any] = {"dest": spec.name, "default": None}
        help_text = spec.metadata.get("help") or spec.name
        options["help"] = f"{help_text} (config: decoding.{spec.name})"
        allowed = spec.metadata.get("allowed")
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif isinstance(allowed, tuple):
            options["choices"] = allowed
        else:
            options["type"] = kind
            options["metavar"] = spec.metadata.get("metavar") or None
        group.add_argument(flag(spec.name), **options)


def decoding_overrides(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The decoding settings given on the command line (field name -> value), except those in
    ``skip`` (the caller's own flags)."""
    return {
        spec.name: getattr(args, spec.name)
        for spec in dataclasses.fields(DecodingConfig)
        if spec.name not in skip and getattr(args, spec.name, None) is not None
    }


def checked_settings(defaults: DecodingConfig, overrides: dict[str, Any]) -> DecodingConfig:
    """``defaults`` with the command line's settings; an error names the flag."""
    return defaults.with_overrides(overrides, name=flag)
