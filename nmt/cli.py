"""`nmt <command>`: thin wrappers over the library. Each command is an ``_add_<name>`` function that
declares its arguments and a ``_run_<name>`` function that calls into the package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from nmt.errors import NMTError

Runner = Callable[[argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nmt", description="Recurrent neural machine translation: train, translate, evaluate."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, add, run in _COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text)
        add(command)
        command.set_defaults(run=run)
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except NMTError as error:
        print(f"nmt {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nmt {args.command}: interrupted", file=sys.stderr)
        return 130


# ---- commands (each section is owned by the module it wraps) ------------------------------------


_COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Runner]] = []
