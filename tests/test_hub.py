"""Sharing on the Hugging Face Hub without the network: a repo id resolves from a Hub cache laid
out on disk (offline), and `push` hands the Hub client exactly the translation files and a model
card whose metadata the Hub can parse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import ModelCard

from nmt.checkpoint import save_checkpoint
from nmt.cli import main
from nmt.hub import HubError, push, resolve_model_dir

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parents[1]


def hub_cache(tmp_path: Path, model_dir: Path, repo_id: str = "org/tiny-en-es") -> Path:
    """The layout huggingface_hub keeps: refs/main names a snapshot folder of the files."""
    cache = tmp_path / "hub"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for path in model_dir.iterdir():
        if path.is_file():
            shutil.copy2(path, snapshot / path.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return cache


def offline_python(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def test_a_local_directory_wins_over_a_repo_id(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "org" / "name"
    shutil.copytree(tiny_model_dir, local)
    monkeypatch.chdir(tmp_path)
    assert resolve_model_dir("org/name") == Path("org/name")


def test_repo_id_resolves_from_the_hub_cache_offline_and_translates(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    cache = hub_cache(tmp_path, tiny_model_dir)
    result = offline_python(
        "from nmt.hub import resolve_model_dir; from nmt import Translator; "
        "print(resolve_model_dir('org/tiny-en-es')); "
        "print(len(Translator.from_pretrained('org/tiny-en-es').translate(['a cat', ''])))",
        cache,
    )
    assert result.returncode == 0, result.stderr
    folder, count = result.stdout.split()
    assert Path(folder) == cache / "models--org--tiny-en-es" / "snapshots" / COMMIT
    assert count == "2"


def test_repo_id_not_in_the_cache_offline_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir()
    result = offline_python(
        "from nmt.hub import resolve_model_dir; resolve_model_dir('org/absent', revision='v2')",
        tmp_path / "hub",
    )
    assert result.returncode != 0
    assert "org/absent: not a local directory, not in the Hugging Face cache at revision v2" in (
        result.stderr
    )


def test_neither_a_directory_nor_a_repo_id_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(HubError, match="model directory not found"):
        resolve_model_dir(tmp_path / "missing" / "deeper" / "still")


class RecordingHub:
    """Stands in for HfApi: records how it was made, the calls, and what the uploaded folder
    held (path in the repo -> bytes)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, bytes] = {}

    def create_repo(self, repo_id: str, **options: Any) -> None:
        self.calls.append(("create_repo", {"repo_id": repo_id, **options}))

    def create_branch(self, repo_id: str, **options: Any) -> None:
        self.calls.append(("create_branch", {"repo_id": repo_id, **options}))

    def upload_folder(self, **options: Any) -> None:
        self.calls.append(("upload_folder", options))
        folder = Path(options["folder_path"])
        self.files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in folder.rglob("*")
            if path.is_file()
        }


def scores(tmp_path: Path) -> Path:
    directory = tmp_path / "scores"
    (directory / "flores").mkdir(parents=True)
    records = [
        {"name": "bleu", "label": "BLEU", "score": 16.44, "signature": "nrefs:1|bs:1000|13a",
         "formatted": "", "higher_is_better": True},
        {"name": "chrf", "label": "chrF2", "score": 45.78, "signature": "nrefs:1|nc:6|nw:0",
         "formatted": "", "higher_is_better": True},
    ]  # fmt: skip
    (directory / "flores" / "dev.json").write_text(json.dumps(records))
    (directory / "tatoeba.json").write_text(json.dumps(records[:1]))
    return directory


def test_push_uploads_translation_files_and_a_card_with_the_scores(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    (model_dir / "checkpoints").mkdir()
    (model_dir / "checkpoints" / "step_00000010.pt").write_bytes(b"training state")
    (model_dir / "train_log.jsonl").write_text('{"event": "valid", "step": 10}\n{"ev')
    averaged = model_dir / "averaged.pt"
    averaged.write_bytes(b"averaged weights")
    hub = RecordingHub()
    push(model_dir, "org/tiny-en-es", weights=averaged, scores_dir=scores(tmp_path), api=hub)

    assert [name for name, _ in hub.calls] == ["create_repo", "upload_folder"]
    assert hub.calls[0][1] == {"repo_id": "org/tiny-en-es", "private": False, "exist_ok": True}
    assert hub.calls[1][1]["repo_id"] == "org/tiny-en-es"
    assert sorted(hub.files) == [
        "README.md",
        "config.yaml",
        "model.pt",
        "scores/flores/dev.json",
        "scores/tatoeba.json",
        "spm.model",
    ]
    assert hub.files["model.pt"] == b"averaged weights"  # the chosen weights, as model.pt

    card = ModelCard(hub.files["README.md"].decode())
    data = card.data.to_dict()
    assert data["library_name"] == "nmt" and data["language"] == ["en", "es"]
    assert data["license"] == "cc-by-4.0" and "translation" in data["tags"]
    results = {
        (r.dataset_name, r.metric_type): (r.metric_value, r.metric_config)
        for r in card.data.eval_results
    }
    assert results == {
        ("flores/dev", "bleu"): (16.44, "nrefs:1|bs:1000|13a"),
        ("flores/dev", "chrf"): (45.78, "nrefs:1|nc:6|nw:0"),
        ("tatoeba", "bleu"): (16.44, "nrefs:1|bs:1000|13a"),
    }
    assert 'Translator.from_pretrained("org/tiny-en-es")' in card.text
    assert "10 steps" in card.text  # an unreadable checkpoint: the log's last validation


def test_push_refuses_a_bad_repo_id_and_missing_weights(tmp_path: Path, tiny_model_dir: Path):
    with pytest.raises(HubError, match="not a Hub repo id"):
        push(tiny_model_dir, "no-slash", api=RecordingHub())
    with pytest.raises(HubError, match="weights file not found"):
        push(tiny_model_dir, "org/x", weights=tmp_path / "absent.pt", api=RecordingHub())


def card_metrics(card: ModelCard) -> dict[tuple[str, str], tuple[float, str]]:
    return {
        (r.dataset_name, r.metric_type): (r.metric_value, r.metric_config)
        for r in card.data.eval_results
    }


@pytest.fixture
def recording_hub(monkeypatch: pytest.MonkeyPatch) -> list[RecordingHub]:
    """huggingface_hub.HfApi replaced by RecordingHub; the list holds each one made."""
    import huggingface_hub

    made: list[RecordingHub] = []

    def make(**options: Any) -> RecordingHub:
        made.append(RecordingHub(**options))
        return made[-1]

    monkeypatch.setattr(huggingface_hub, "HfApi", make)
    return made


def test_nmt_push_uploads_the_chosen_weights_and_a_card_with_the_directory_scores(
    tmp_path: Path,
    tiny_model_dir: Path,
    recording_hub: list[RecordingHub],
    capsys: pytest.CaptureFixture,
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    shutil.copytree(scores(tmp_path), model_dir / "scores")
    state = {"model": {}, "progress": {"step": 1200, "train_seconds": 5400.0}}
    save_checkpoint(state, model_dir / "checkpoints" / "step_00001200.pt")
    (model_dir / "averaged.pt").write_bytes(b"averaged weights")
    (model_dir / "train_log.jsonl").write_text('{"event": "valid", "step": 1000}\n')
    argv = ["push", str(model_dir), "org/tiny-en-es", "--token", "hf_secret", "--private"]

    assert main([*argv, "--revision", "v1"]) == 0
    (hub,) = recording_hub
    assert hub.options["token"] == "hf_secret" and hub.options["library_name"] == "nmt"
    assert [name for name, _ in hub.calls] == ["create_repo", "create_branch", "upload_folder"]
    assert hub.calls[0][1] == {"repo_id": "org/tiny-en-es", "private": True, "exist_ok": True}
    assert hub.calls[1][1] == {"repo_id": "org/tiny-en-es", "branch": "v1", "exist_ok": True}
    assert hub.calls[2][1]["revision"] == "v1"
    assert sorted(hub.files) == [
        "README.md",
        "config.yaml",
        "model.pt",
        "scores/flores/dev.json",
        "scores/tatoeba.json",
        "spm.model",
    ]  # no checkpoints, no training log, no averaged.pt under its own name
    assert hub.files["model.pt"] == (model_dir / "model.pt").read_bytes()
    assert "uploaded README.md, config.yaml, model.pt" in capsys.readouterr().out

    card = ModelCard(hub.files["README.md"].decode())
    assert card.data.to_dict()["library_name"] == "nmt"
    expected = {
        (path.relative_to(model_dir / "scores").with_suffix("").as_posix(), record["name"]): (
            round(record["score"], 2),
            record["signature"],
        )
        for path in (model_dir / "scores").rglob("*.json")
        for record in json.loads(path.read_text())
    }
    assert card_metrics(card) == expected and len(expected) == 3
    assert "1,200 steps; 1.5 hours of training" in card.text  # the newest checkpoint's clock

    assert main(["push", str(model_dir), "org/tiny-en-es", "--weights", "averaged"]) == 0
    assert recording_hub[1].files["model.pt"] == b"averaged weights"
    assert [name for name, _ in recording_hub[1].calls] == ["create_repo", "upload_folder"]
    assert recording_hub[1].calls[1][1]["revision"] is None  # main


def test_nmt_push_without_averaged_weights_or_a_token_is_a_one_line_error(
    tmp_path: Path,
    tiny_model_dir: Path,
    recording_hub: list[RecordingHub],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    assert main(["push", str(tiny_model_dir), "org/x", "--weights", "averaged"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"nmt push: error: {tiny_model_dir / 'averaged.pt'}: not found")
    assert "nmt average" in error and not recording_hub

    def refuse(self: RecordingHub, repo_id: str, **options: Any) -> None:
        url = "https://huggingface.co/api/repos/create"
        response = httpx2.Response(401, request=httpx2.Request("POST", url))
        raise HfHubHTTPError(f"401 Client Error: Unauthorized for url: {url}", response=response)

    monkeypatch.setattr(RecordingHub, "create_repo", refuse)
    assert main(["push", str(tiny_model_dir), "org/x"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("nmt push: error: org/x: the Hub refused the upload: 401 Client Error")
    assert error.count("\n") == 1
