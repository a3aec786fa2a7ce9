"""`nmt translate --workers N`: the same bytes as one process, on hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmt.cli import main
from nmt.parallel import ChunkTranslator
from tests.conftest import DATA_DIR


def test_two_workers_write_what_one_process_writes(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    english = (DATA_DIR / "tatoeba" / "dev.en").read_text(encoding="utf-8").splitlines()[:60]
    overlong = " ".join(english[:12])  # over the tiny model's limit: translated in chunks
    lines = []
    for i, line in enumerate(english):
        lines += [line, "", "   ", overlong if i % 20 == 0 else line.upper()]
    # 2,500 lines more of blanks: more than one 2000-line chunk, so both workers get work
    lines += [""] * 2500 + english[:10]
    source = tmp_path / "in.en"
    source.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    outputs = {}
    for workers in ("1", "2"):
        if workers == "2":
            # spawned workers import nmt afresh: only this process would see the patch, so a
            # run with --workers 2 that translated here instead would fail
            monkeypatch.setattr(ChunkTranslator, "translate", _not_in_this_process)
        out = tmp_path / f"out{workers}.es"
        argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(out)]
        assert main([*argv, "--workers", workers, "--threads", "1", "--n-best", "2"]) == 0
        outputs[workers] = out.read_bytes()
    assert outputs["1"] == outputs["2"]
    rows = outputs["2"].decode("utf-8").splitlines()
    assert [int(row.split(" ||| ")[0]) for row in rows][-1] == len(lines) - 1
    assert len({int(row.split(" ||| ")[0]) for row in rows}) == len(lines)


def _not_in_this_process(*args: object, **kwargs: object) -> bytes:
    raise AssertionError("with --workers 2 the workers translate, not the parent process")
