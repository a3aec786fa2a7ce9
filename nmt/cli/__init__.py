"""`nmt <command>`: thin wrappers over the library, one module per command group (evaluate,
corpus, train, translate, score, shortlist, models, plot, serve). Each command is an
``_add_<name>`` function that declares its arguments and a ``_run_<name>`` function that calls
into the package; nothing in ``nmt`` imports this package."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable

from nmt import __version__
from nmt.cli import corpus, evaluate, models, plot, score, serve, shortlist, train, translate
from nmt.cli.common import Command, drop_stdout
from nmt.errors import NMTError

_COMMANDS: list[Command] = [
    *evaluate.COMMANDS,
    *corpus.COMMANDS,
    *train.COMMANDS,
    *translate.COMMANDS,
    *score.COMMANDS,
    *shortlist.COMMANDS,
    *models.COMMANDS,
    *plot.COMMANDS,
    *serve.COMMANDS,
]


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error it expects, and any OSError (a full disk, a permission), is a
    one-line ``nmt COMMAND: error: ...`` on stderr and exit status 2, never a traceback."""
    parser = argparse.ArgumentParser(
        prog="nmt", description="Recurrent neural machine translation: train, translate, evaluate."
    )
    parser.add_argument("--version", action="version", version=f"nmt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, add, run in _COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text)
        add(command)
        command.set_defaults(run=run)
    args = parser.parse_args(argv)
    prefix = f"nmt {args.command}"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(prefix)
            status = args.run(args) or 0
        sys.stdout.flush()  # a full disk or closed pipe behind stdout shows here, not at exit
        return status
    except NMTError as error:
        message = str(error)
    except OSError as error:  # e.g. a checkpoint written into a full model directory
        what = error.strerror or str(error)
        names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name)
        message = f"{names}: {what}" if names else what
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    print(f"{prefix}: error: {message}", file=sys.stderr)
    try:
        sys.stdout.flush()
    except OSError:  # stdout itself failed: what it still holds can never be written
        drop_stdout()
    return 2


def _one_line_warnings(prefix: str) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints ``PREFIX: warning: MESSAGE``, without the source
    line that Python's format adds: the user did not write that code."""

    def show(message: Warning | str, *args: object, **kwargs: object) -> None:
        print(f"{prefix}: warning: {message}", file=sys.stderr)

    return show
