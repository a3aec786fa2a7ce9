"""nmt.linestream: input line N stays line N, whatever the line endings, BOM or chunking; the
output file is replaced only by a complete translation; pipes are read, directories refused."""

from __future__ import annotations

import io
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nmt.errors import NMTError
from nmt.linestream import atomic_output
from nmt.textio import READ_BYTES, count_lines, open_input, read_line_chunks


class TrickleStream(io.RawIOBase):
    """A pipe whose writer sends ``parts`` one at a time: each read returns at most one part."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = list(parts)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if not self.parts:
            return 0
        part = self.parts.pop(0)
        buffer[: len(part)] = part
        return len(part)


def chunks(data: bytes, **options: object) -> list[list[str]]:
    return list(read_line_chunks(io.BufferedReader(io.BytesIO(data)), "in.txt", **options))


def test_crlf_bom_and_missing_final_newline_keep_line_count() -> None:
    data = b"\xef\xbb\xbfone\r\n\r\ntwo\rstill two\nthree"
    lines = [line for chunk in chunks(data) for line in chunk]
    assert lines == ["one", "", "two\rstill two", "three"]


def test_bom_is_only_removed_at_the_start() -> None:
    assert chunks(b"a\n\xef\xbb\xbfb\n") == [["a", "\ufeffb"]]


def test_empty_input_has_no_lines() -> None:
    assert chunks(b"") == []


def test_lines_come_in_chunks_of_at_most_max_lines() -> None:
    lines = [str(i) for i in range(30_000)]  # more than one read of READ_BYTES
    data = "\n".join(lines).encode()
    assert len(data) > READ_BYTES
    got = chunks(data, max_lines=7000)
    assert max(len(chunk) for chunk in got) == 7000
    assert [line for chunk in got for line in chunk] == lines


def test_a_pipe_yields_each_line_as_it_arrives() -> None:
    stream = io.BufferedReader(TrickleStream([b"first\nsec", b"ond\n", b"third\n"]))
    assert list(read_line_chunks(stream, "<stdin>")) == [["first"], ["second"], ["third"]]


def test_invalid_utf8_names_file_and_line_or_is_replaced() -> None:
    with pytest.raises(NMTError, match=r"in\.txt:2: invalid UTF-8 \(byte 3 of the line"):
        chunks(b"ok\nab\xffcd\n")
    assert chunks(b"ok\nab\xffcd\n", on_invalid_utf8="replace") == [["ok", "ab\ufffdcd"]]


@pytest.mark.parametrize("data", [b"", b"a", b"a\n", b"a\r\nb", b"\n\n", b"a\nb\n"])
def test_count_lines_agrees_with_the_reader(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    assert count_lines(path) == sum(len(chunk) for chunk in chunks(data))


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


def test_output_and_input_errors_name_the_path_and_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(NMTError, match="out.txt: cannot write: No such file or directory"):
        with atomic_output(str(tmp_path / "missing" / "out.txt")):
            pass
    with pytest.raises(NMTError, match="is a directory, not a text file"):
        with atomic_output(str(tmp_path)):
            pass
    with pytest.raises(NMTError, match="is a directory, not a text file"):
        open_input(str(tmp_path))
    with pytest.raises(NMTError, match="nope.txt: input file not found"):
        open_input(str(tmp_path / "nope.txt"))


def test_count_lines_of_a_pipe_is_unknown_and_leaves_it_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"a\nb\n"), daemon=True)
    writer.start()
    assert count_lines(fifo) is None  # counting would have read the writer's two lines
    with open(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK), "rb") as pipe:  # unblocks the writer
        writer.join(timeout=10)
        assert pipe.read() == b"a\nb\n"
