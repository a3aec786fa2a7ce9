"""The tools a user needs work from an installed nmt, not only from the source tree: a wheel is
built from a copy of the package and installed (no dependencies, offline) into a fresh venv that
borrows this venv's packages (torch, matplotlib ...) but not its editable nmt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.test_model_dir import write_step_checkpoints
from tests.test_plot import PNG, needs_matplotlib, write_log

ROOT = Path(__file__).resolve().parents[1]


def run(command: list[str | Path], cwd: Path, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | env
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with nmt installed from a wheel."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"
    source.mkdir()
    shutil.copytree(ROOT / "nmt", source / "nmt", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    wheels = work / "wheels"
    run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, source],
        work,
    )
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], work)
    python = venv / "bin" / "python"
    (wheel,) = wheels.glob("nmt-*.whl")
    run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], work)
    # this venv's packages, added as a plain path: its .pth files (the editable nmt's import hook
    # among them) are not processed from there
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work)
    (Path(purelib.strip()) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


@pytest.mark.slow
@needs_matplotlib
def test_average_and_plot_run_from_an_installed_package(
    installed: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    where = run([installed / "python", "-c", "import nmt, nmt.cli; print(nmt.__file__)"], tmp_path)
    assert Path(where.strip()).is_relative_to(installed.parent)
    assert not Path(where.strip()).is_relative_to(ROOT)

    nmt = installed / "nmt"
    model = tmp_path / "model"
    write_step_checkpoints(model)
    out = run([nmt, "average", model, "--last", "2"], tmp_path, HF_HUB_OFFLINE="1")
    assert "averaged 2 checkpoints (steps 200, 300)" in out
    assert (model / "averaged.pt").is_file()

    write_log(model)
    run([nmt, "plot", "training", model, "-o", tmp_path / "training.png"], tmp_path)
    attention = ["-m", tiny_model_dir, "--src", "The cat sleeps.", "--threads", "1"]
    run([nmt, "plot", "attention", *attention, "-o", tmp_path / "attention.png"], tmp_path)
    for name in ("training.png", "attention.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
