"""`nmt translate --workers N`: the same bytes as one process, on hostile input."""

from __future__ import annotations

import subprocess
import sys
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


def test_the_process_that_starts_workers_does_not_import_torch(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """With --workers N, only the workers import torch: the main process spawns them at once
    instead of after torch's second or so of imports (measured: 2.8 s against 1.6 s of start-up
    with two processes when the main process imported it too). A real two-worker translation,
    in a fresh interpreter that reports afterwards whether it ever imported torch."""
    source, out = tmp_path / "in.en", tmp_path / "out.es"
    source.write_text("Hello.\nHow are you?\n", encoding="utf-8")
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(out)]
    code = (
        "import sys\n"
        "from nmt.cli import main\n"
        f"code = main({[*argv, '--workers', '2', '--threads', '1']!r})\n"
        "print(code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split()[-2:] == ["0", "False"]
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
