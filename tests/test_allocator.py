"""keep_freed_memory: a search's shrinking step tensors reuse freed memory instead of faulting
fresh pages in (glibc only)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

import nmt.allocator
from nmt.cli import main

STEPS = """
import resource, sys
if sys.argv[1] == "keep":
    from nmt.allocator import keep_freed_memory
    assert keep_freed_memory()
import torch
torch.set_num_threads(1)  # one arena: the counts do not depend on thread scheduling
def batch():
    for rows in range(320, 0, -16):  # a beam search's steps as sentences end: (rows, vocab)
        scores = torch.ones(rows, 8000).log_softmax(-1)
batch()  # the heap's first growth faults either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    batch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_freed_step_tensors_are_reused_instead_of_faulted_in_again() -> None:
    def page_faults(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", STEPS, mode], capture_output=True, text=True, check=True
        )
        return int(run.stdout)

    default, kept = page_faults("default"), page_faults("keep")
    assert kept * 4 < default, (kept, default)


def test_nmt_translate_keeps_freed_memory(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(nmt.allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    source = tmp_path / "in.en"
    source.write_text("Hello.\n", encoding="utf-8")
    argv = ["translate", "-m", str(tiny_model_dir), "-i", str(source), "-o", str(tmp_path / "o")]
    assert main(argv) == 0
    assert calls == [1]
