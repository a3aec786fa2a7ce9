"""One training run per model directory: an advisory lock held for the run's whole life.

Two runs writing the same checkpoints and log would interleave them. The lock is an ``flock`` on
``DIR/.lock``: the kernel releases it when its process dies, however it dies, so a stale lock
file left by a killed run is simply taken over; the file's text (pid and host) is only there to
name the holder in the error.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import TracebackType

from nmt.constants import LOCK_FILE
from nmt.errors import NMTError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs go unguarded there
    fcntl = None  # type: ignore[assignment]


class DirectoryLockedError(NMTError):
    """Another live process holds the directory."""


class DirectoryLock:
    """``with DirectoryLock(model_dir):`` — raises DirectoryLockedError if a live run holds it."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise DirectoryLockedError(
                f"{self.path.parent} is in use by another training run ({holder}); wait for it "
                "to finish or stop it, or choose another training.model_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)  # closing drops the flock; the file stays, harmless
        self._fd = None

    def __enter__(self) -> DirectoryLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
