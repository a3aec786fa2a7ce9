"""Translation output that never looks done when it is not.

Input is read by :mod:`nmt.textio` (a regular file or a pipe, in chunks as it arrives). An output
file is written beside itself and replaces the old one only when the translation is complete
(:func:`atomic_output`): a failed run never leaves a truncated or partial file that looks done.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from nmt.errors import NMTError


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
                os.fchmod(handle.fileno(), new_file_mode() if mode is None else stat.S_IMODE(mode))
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


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file (0o666 less the process umask), for a file written
    through ``mkstemp``, whose 0o600 would hide it from the group and others."""
    mask = os.umask(0o022)  # reading the umask means setting it: set straight back
    os.umask(mask)
    return 0o666 & ~mask
