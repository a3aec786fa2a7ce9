"""The command line as a whole: its version, and its commands' registration."""

from __future__ import annotations

import pytest

import nmt
from nmt.cli import main


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"nmt {nmt.__version__}"


def test_every_command_is_registered_once_in_the_documented_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    names = [
        "evaluate",
        "spm-train",
        "prepare-data",
        "train",
        "translate",
        "score",
        "shortlist",
        "average",
        "push",
        "plot",
    ]
    positions = [listing.index(f"    {name}") for name in names]
    assert positions == sorted(positions)
