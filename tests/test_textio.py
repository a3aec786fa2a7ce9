"""Reading line-aligned text (nmt/textio.py): what a line is, gzip by content, and errors that
name the file and the line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from nmt.textio import TextError, iter_lines, read_lines


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
