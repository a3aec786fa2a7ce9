"""Line-aligned text streams for translation: files or pipes, read in chunks as they arrive.

Line N of the output must belong to line N of the input, whatever the input looks like: lines
are split at ``\\n`` only (a stray ``\\r`` or U+2028 inside a line stays inside it), a ``\\r\\n``
ending loses its ``\\r``, a UTF-8 byte-order mark at the very start is dropped, and a last line
without a newline is still a line. Invalid UTF-8 is an error naming the line, or becomes U+FFFD.

Input may be a regular file or a pipe (a FIFO, or ``<(cmd)``'s /dev/fd/N). An output file is
written beside itself and replaces the old one only when the translation is complete
(:func:`atomic_output`): a failed run never leaves a truncated or partial file that looks done.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import stat
import tempfile
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


def open_input(path: str) -> BinaryIO:
    """``path`` opened for binary reading: a regular file or a pipe; errors name it."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise NMTError(f"{path}: input file not found") from None
    except IsADirectoryError:
        raise NMTError(f"{path}: is a directory, not a text file") from None
    except OSError as error:
        raise NMTError(f"{path}: cannot read: {error.strerror}") from None


def count_lines(path: str | Path) -> int | None:
    """Lines as :func:`read_line_chunks` counts them (a last line without newline included);
    None for anything but a regular file: counting a pipe would consume what it holds."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        return None
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


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """``path`` opened for binary writing; a regular file is replaced only if the block succeeds.

    The text goes to a hidden temporary file beside the target (``.NAME.XXXXXXXX.tmp``, same
    directory, so the rename stays on one file system), which is synced and renamed onto it at
    the end; on any exception, Ctrl-C included, it is removed and the old file stays as it was.
    The new file gets the old one's mode, or a new file's (0o666 less the umask), not mkstemp's
    0o600. A symlink is followed: its target is replaced, the link stays.

    Anything else is written in place: what is not a regular file (/dev/full, a FIFO, ``>(cmd)``),
    since renaming onto it would replace the device or pipe with a file, and paths under /dev and
    /proc (``/dev/stdout`` may stand for a file the shell opened, perhaps to append). Errors of
    opening and of the final flush, sync and rename name ``path``; the caller names it for its
    own writes.
    """
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise NMTError(f"{path}: cannot write: {error.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise NMTError(f"{path}: is a directory, not a text file")
    in_place = (mode is not None and not stat.S_ISREG(mode)) or os.path.abspath(path).startswith(
        ("/dev/", "/proc/")
    )
    target = os.path.realpath(path)
    temporary = None
    try:
        if in_place:
            handle = open(path, "wb")
        else:
            directory, name = os.path.split(target)
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{name}.", suffix=".tmp", dir=directory
            )
            handle = os.fdopen(descriptor, "wb")
    except OSError as error:
        raise NMTError(f"{path}: cannot write: {error.strerror}") from None
    try:
        yield handle
        try:
            handle.flush()
            if temporary is not None:
                os.fchmod(
                    handle.fileno(), 0o666 & ~_umask() if mode is None else stat.S_IMODE(mode)
                )
                os.fsync(handle.fileno())
            handle.close()
            if temporary is not None:
                os.replace(temporary, target)
        except OSError as error:
            raise NMTError(f"{path}: cannot write: {error.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):  # its flush fails again on a full disk
            handle.close()
        if temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        raise


def _umask() -> int:
    """The process's umask; reading it means setting it, so it is set straight back."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
