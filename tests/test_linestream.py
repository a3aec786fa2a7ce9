"""nmt.linestream: input line N stays line N, whatever the line endings, BOM or chunking."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from nmt.errors import NMTError
from nmt.linestream import READ_BYTES, count_lines, read_line_chunks


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
