"""What the commands share: the shape of a command, ``--set`` overrides, quiet stdout."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

Runner = Callable[[argparse.Namespace], int]
# (name, one-line help, add_arguments(parser), run(args) -> exit status)
Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Runner]


def add_overrides(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set SECTION.KEY=VALUE`` (repeatable), collected in ``args.overrides``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override one config value, e.g. --set {example} (repeatable)",
    )


def drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush has nowhere to fail."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
