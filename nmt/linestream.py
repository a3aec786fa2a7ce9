"""Line-aligned text streams for translation: files or pipes, read in chunks as they arrive.

Line N of the output must belong to line N of the input, whatever the input looks like: lines
are split at ``\\n`` only (a stray ``\\r`` or U+2028 inside a line stays inside it), a ``\\r\\n``
ending loses its ``\\r``, a UTF-8 byte-order mark at the very start is dropped, and a last line
without a newline is still a line. Invalid UTF-8 is an error naming the line, or becomes U+FFFD.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from nmt.errors import NMTError

READ_BYTES = 1 << 16
UTF8_ERRORS = {"error": "strict", "replace": "replace"}


def read_line_chunks(
    stream: BinaryIO, name: str, on_invalid_utf8: str = "error", max_lines: int = 2000
) -> Iterator[list[str]]:
    """Decoded lines of ``stream``, at most ``max_lines`` at a time.

    A chunk also ends when the stream has no more bytes ready (a pipe whose writer is waiting for
    our output), so a pipe is translated line by line as it arrives instead of blocking on a full
    chunk. ``name`` (a path, or "<stdin>") and the line number appear in errors.
    """
    errors = UTF8_ERRORS[on_invalid_utf8]
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
            lines.append(_decode(raw, number, name, errors))
        while len(lines) >= max_lines:
            yield lines[:max_lines]
            lines = lines[max_lines:]
        if lines and len(data) < READ_BYTES:  # nothing more ready: translate what is here
            yield lines
            lines = []
        if not data:
            return


def count_lines(path: str | Path) -> int:
    """Lines as :func:`read_line_chunks` counts them (a last line without newline included)."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _decode(raw: bytes, number: int, name: str, errors: str) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if number == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8", errors)
    except UnicodeDecodeError as error:
        raise NMTError(
            f"{name}:{number}: invalid UTF-8 (byte {error.start + 1} of the line is "
            f"{raw[error.start : error.start + 1]!r}); convert the input to UTF-8, or pass "
            "--on-invalid-utf8 replace to translate it with U+FFFD in place of bad bytes"
        ) from None
