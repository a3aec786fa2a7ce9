"""nmt.linestream: the output file is replaced only by a complete translation, keeps its mode,
and a link, FIFO or device is written in place; directories are refused. (The input side,
nmt.textio's chunked reader, is tested in test_textio.py.)"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nmt.errors import NMTError
from nmt.linestream import atomic_output


@pytest.fixture
def umask() -> Iterator[int]:
    """A umask of 0o027 for the test (a new file is then 0o640), the old one restored."""
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_atomic_output_replaces_the_file_only_when_the_block_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_bytes(b"old\n")
    for failure in (ValueError("bad line"), KeyboardInterrupt()):
        with pytest.raises(type(failure)), atomic_output(str(target)) as sink:
            sink.write(b"half of the new\n")
            sink.flush()
            assert target.read_bytes() == b"old\n"  # written beside it, not into it
            raise failure
        assert target.read_bytes() == b"old\n"
        assert [path.name for path in tmp_path.iterdir()] == ["out.txt"]
    with atomic_output(str(target)) as sink:
        sink.write(b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [path.name for path in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_output_gives_a_new_file_the_umask_mode_and_keeps_an_old_files(
    tmp_path: Path, umask: int
) -> None:
    new, old = tmp_path / "new.txt", tmp_path / "old.txt"
    old.write_bytes(b"old\n")
    old.chmod(0o604)
    for path in (new, old):
        with atomic_output(str(path)) as sink:
            sink.write(b"text\n")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0o600
    assert stat.S_IMODE(old.stat().st_mode) == 0o604


def test_atomic_output_writes_through_a_symlink_and_into_a_fifo(tmp_path: Path) -> None:
    """A link keeps pointing at the new file; a FIFO (or /dev/full) is written, never replaced."""
    real, link = tmp_path / "real.txt", tmp_path / "link.txt"
    real.write_bytes(b"old\n")
    link.symlink_to(real)
    with atomic_output(str(link)) as sink:
        sink.write(b"new\n")
    assert link.is_symlink() and real.read_bytes() == b"new\n"

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with atomic_output(str(fifo)) as sink:
        sink.write(b"through the pipe\n")
    reader.join(timeout=10)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_output_errors_name_the_path_and_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(NMTError, match="out.txt: cannot write: No such file or directory"):
        with atomic_output(str(tmp_path / "missing" / "out.txt")):
            pass
    with pytest.raises(NMTError, match="is a directory, not a text file"):
        with atomic_output(str(tmp_path)):
            pass
