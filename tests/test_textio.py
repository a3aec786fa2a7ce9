"""Reading line-aligned text (nmt/textio.py): what a line is, gzip by content, errors that name
the file and the line, and the chunked reader of files and pipes that translation uses (line N
stays line N whatever the line endings, BOM or chunking)."""

from __future__ import annotations

import gzip
import io
import os
import threading
from pathlib import Path

import pytest

from nmt.errors import NMTError
from nmt.textio import (
    READ_BYTES,
    TextError,
    count_lines,
    iter_lines,
    open_input,
    read_line_chunks,
    read_lines,
)


def _write(path: Path, lines: list[str], gz: bool = False) -> str:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return str(path)


def test_only_the_line_ending_and_a_leading_bom_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "text"
    path.write_bytes("\ufeff uno \r\ndos\r tres\n\n  \ncuatro\u2028cinco\n\ufeffseis".encode())
    assert read_lines(path) == [" uno ", "dos\r tres", "", "  ", "cuatro\u2028cinco", "\ufeffseis"]


def test_gzip_is_recognised_by_content_not_by_name(tmp_path: Path) -> None:
    lines = ["¿Qué tal?", "bien 👍"]
    assert read_lines(_write(tmp_path / "looks_plain.txt", lines, gz=True)) == lines
    assert read_lines(_write(tmp_path / "looks_zipped.gz", lines)) == lines


@pytest.mark.parametrize("gz", [False, True])
def test_invalid_utf8_names_file_and_line(tmp_path: Path, gz: bool) -> None:
    data = b"uno\ndos\ntr\xe9s\n"
    path = tmp_path / "latin1.txt"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(TextError, match=f"{path}:3: invalid UTF-8"):
        read_lines(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(TextError, match=f"{tmp_path / 'absent.en'}: file not found"):
        read_lines(tmp_path / "absent.en")


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(b"uno\ndos\n" * 1000)[:-20])
    with pytest.raises(TextError, match=f"{path}:.*cannot read"):
        list(iter_lines(path))


# ---- in chunks, from files and pipes (nmt translate's input) --------------------------------


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


def test_input_errors_name_the_path_and_what_is_wrong(tmp_path: Path) -> None:
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
