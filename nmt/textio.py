"""Line-aligned UTF-8 text: the one reader of corpora, references and translation input.

Line N of a file must stay line N everywhere (a parallel corpus, a translation and its
reference), so every reader applies the same rules:

- lines are split at ``\\n`` only: a stray ``\\r``, U+2028 or form feed inside a line stays
  inside it (``str.splitlines`` would split there and shift every later line);
- a ``\\r\\n`` ending loses its ``\\r``, and a UTF-8 byte-order mark at the very start is dropped;
- a last line without a newline is still a line, and an empty file has no lines;
- invalid UTF-8 is a :class:`TextError` naming the file and line (or, where the caller asks,
  becomes U+FFFD);
- gzip is recognised by its magic bytes, not by the file name.

Only the standard library is used, so torch-free modules (evaluation) can read through here.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from nmt.errors import NMTError

GZIP_MAGIC = b"\x1f\x8b"
READ_BYTES = 1 << 16
UTF8_ERRORS = {"error": "strict", "replace": "replace"}


class TextError(NMTError):
    """A text file is missing, unreadable or not UTF-8; the message names the file and line."""


def decode_line(raw: bytes, number: int, name: str, on_invalid_utf8: str = "error") -> str:
    """Line ``number`` (from 1) of ``name`` without its ``\\n``, as text (see module rules)."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if number == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8", UTF8_ERRORS[on_invalid_utf8])
    except UnicodeDecodeError as error:
        raise TextError(
            f"{name}:{number}: invalid UTF-8 (byte {error.start + 1} of the line is "
            f"{raw[error.start : error.start + 1]!r}); convert the file to UTF-8"
        ) from None


def check_readable(path: str | Path) -> None:
    """A TextError unless ``path`` can be read as a text source: a regular file, a pipe, a FIFO
    or a process substitution (``/dev/fd/N``); a directory or a missing path is an error."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise TextError(f"{path}: file not found") from None
    except OSError as error:
        raise TextError(f"{path}: cannot open: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise TextError(f"{path}: is a directory, not a text file")


def open_binary(path: str | Path) -> BinaryIO:
    """``path`` opened for reading bytes, gunzipped if it starts with gzip's magic bytes."""
    check_readable(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    except OSError as error:
        raise TextError(f"{path}: cannot open: {error.strerror}") from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(fileobj=raw))  # type: ignore[arg-type]
    return raw


def iter_lines(path: str | Path, on_invalid_utf8: str = "error") -> Iterator[str]:
    """The lines of a plain or gzipped UTF-8 file, one at a time (bounded memory)."""
    with open_binary(path) as stream:
        number = 0
        try:
            for number, raw in enumerate(stream, 1):
                yield decode_line(
                    raw[:-1] if raw.endswith(b"\n") else raw, number, str(path), on_invalid_utf8
                )
        except (EOFError, OSError, zlib.error) as error:
            raise TextError(
                f"{path}:{number + 1}: cannot read (corrupt or truncated?): {error}"
            ) from None


def read_lines(path: str | Path) -> list[str]:
    """All lines of a plain or gzipped UTF-8 file (see :func:`iter_lines`)."""
    return list(iter_lines(path))


def read_line_chunks(
    stream: BinaryIO, name: str, on_invalid_utf8: str = "error", max_lines: int = 2000
) -> Iterator[list[str]]:
    """Decoded lines of ``stream``, at most ``max_lines`` at a time.

    A chunk also ends when the stream has no more bytes ready (a pipe whose writer is waiting for
    our output), so a pipe is translated line by line as it arrives instead of blocking on a full
    chunk. ``name`` (a path, or "<stdin>") and the line number appear in errors.
    """
    pending = b""
    number = 0
    lines: list[str] = []
    while True:
        data = stream.read1(READ_BYTES)
        if data:
            *complete, pending = (pending + data).split(b"\n")
        else:
            complete, pending = ([pending] if pending else []), b""
        for raw in complete:
            number += 1
            lines.append(decode_line(raw, number, name, on_invalid_utf8))
        while len(lines) >= max_lines:
            yield lines[:max_lines]
            lines = lines[max_lines:]
        if lines and len(data) < READ_BYTES:  # nothing more ready: translate what is here
            yield lines
            lines = []
        if not data:
            return


def count_lines(path: str | Path) -> int | None:
    """Lines as the readers above count them (a last line without newline included); None for
    anything but a regular file: counting a pipe would consume what it holds."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        return None
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def open_input(path: str) -> BinaryIO:
    """``path`` opened for binary reading as it is (no gunzip): a regular file or a pipe (a FIFO,
    ``<(cmd)``), which :func:`read_line_chunks` reads as it arrives; errors name it."""
    try:
        return open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    except FileNotFoundError:
        raise TextError(f"{path}: input file not found") from None
    except IsADirectoryError:
        raise TextError(f"{path}: is a directory, not a text file") from None
    except OSError as error:
        raise TextError(f"{path}: cannot read: {error.strerror}") from None
