"""Model directories on the Hugging Face Hub: found by repo id (``Translator.from_pretrained``)
and shared with a model card (``nmt push``).

Downloads go through ``huggingface_hub.snapshot_download``, so they share the Hub's cache
(``HF_HUB_CACHE``) and honour ``HF_HUB_OFFLINE=1`` (the cache alone, no network). An upload holds
what translation needs and nothing of the training state: ``config.yaml``, the SentencePiece
model(s), one weights file as ``model.pt`` (the best or the averaged weights) and ``README.md``,
a model card whose metadata the Hub reads (languages, licence, ``library_name: nmt``, metrics
with their sacrebleu signatures).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nmt.config import Config
from nmt.constants import (
    CARD_FILE,
    CONFIG_FILE,
    JOINT_SPM_FILE,
    SCORES_DIR,
    SRC_SPM_FILE,
    TGT_SPM_FILE,
    WEIGHTS_FILE,
)
from nmt.errors import NMTError

if TYPE_CHECKING:  # torch: `nmt translate --workers N` resolves model names without it
    from nmt.model_dir import ModelDir

TRANSLATION_FILES = [CONFIG_FILE, JOINT_SPM_FILE, SRC_SPM_FILE, TGT_SPM_FILE, WEIGHTS_FILE]
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


class HubError(NMTError):
    """A model cannot be found on, fetched from or sent to the Hub."""


def resolve_model_dir(
    name: str | Path, revision: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """A local model directory as it is; else ``org/name`` fetched from the Hub (or its cache).

    A local path wins over a repo id of the same spelling, so ``exp/model`` never goes online.
    """
    path = Path(name)
    if path.is_dir():
        return path
    if not _REPO_ID.match(str(name)):
        raise HubError(
            f"{name}: model directory not found (it holds {CONFIG_FILE}, {WEIGHTS_FILE} and the "
            "SentencePiece model that `nmt train` wrote), and not a Hub repo id (org/name)"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from nmt import __version__

    try:
        return Path(
            snapshot_download(
                str(name),
                revision=revision,
                cache_dir=cache_dir,
                allow_patterns=[*TRANSLATION_FILES, CARD_FILE],
                library_name="nmt",
                library_version=__version__,
            )
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise HubError(
            f"{name}: not a local directory, not in the Hugging Face cache"
            f"{f' at revision {revision}' if revision else ''}, and the Hub cannot be reached "
            "(offline, or HF_HUB_OFFLINE=1); connect once to download it, or give a local path"
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise HubError(f"{name}: {str(error).splitlines()[0]}") from None
    except HfHubHTTPError as error:
        raise HubError(f"{name}: the Hub refused the download: {error}") from None


# ---- upload -------------------------------------------------------------------------------------


class HubApi(Protocol):
    """What ``push`` needs of ``huggingface_hub.HfApi`` (tests pass a recording stand-in)."""

    def create_repo(self, repo_id: str, **options: Any) -> Any: ...

    def create_branch(self, repo_id: str, **options: Any) -> Any: ...

    def upload_folder(self, **options: Any) -> Any: ...


@dataclass(frozen=True)
class CardFacts:
    """What the model card says beyond the config: scores, training time, data, licence."""

    scores: dict[str, list[dict[str, Any]]]  # test set -> `nmt evaluate --json` records
    steps: int | None = None
    train_hours: float | None = None
    license: str = "cc-by-4.0"
    datasets: tuple[str, ...] = ()


def push(
    model_dir: str | Path,
    repo_id: str,
    weights: str | Path | None = None,
    scores_dir: str | Path | None = None,
    private: bool = False,
    license: str = "cc-by-4.0",
    revision: str | None = None,
    token: str | None = None,
    api: HubApi | None = None,
) -> list[str]:
    """Upload ``model_dir`` to ``repo_id`` with a generated card; returns the uploaded files.

    ``weights``: the file uploaded as ``model.pt`` (default: the directory's ``model.pt``; e.g.
    ``averaged.pt``). ``scores_dir``: ``nmt evaluate --json`` files, one per test set, found
    recursively (``scores/flores/dev.json`` is the set ``flores/dev``); default ``scores/`` in
    the model directory or beside it; they are uploaded as ``scores/``. ``revision``: the branch
    to commit to (created from main if absent; default main). ``token``: a Hub access token
    (default: ``HF_TOKEN`` or the one ``hf auth login`` saved).
    """
    from nmt.model_dir import ModelDir

    directory = ModelDir(model_dir)
    if not _REPO_ID.match(repo_id):
        raise HubError(f"{repo_id}: not a Hub repo id (org/name)")
    config = directory.load_config()
    weights_path = Path(weights) if weights is not None else directory.weights
    if not weights_path.is_file():
        raise HubError(f"{weights_path}: weights file not found")
    if not directory.has_tokenizer():
        raise HubError(f"{directory.path}: holds no SentencePiece model to upload")
    scores = _scores_dir(directory.path, scores_dir)
    facts = CardFacts(scores=read_scores(scores), license=license, **_training_facts(directory))
    with tempfile.TemporaryDirectory(prefix="nmt-push-") as folder:
        staging = Path(folder)
        for path in [directory.config_file, *directory.tokenizer_files]:
            shutil.copy2(path, staging / path.name)
        shutil.copy2(weights_path, staging / WEIGHTS_FILE)
        if scores is not None:
            shutil.copytree(scores, staging / SCORES_DIR, ignore=_not_json)
        (staging / CARD_FILE).write_text(model_card(config, repo_id, facts), encoding="utf-8")
        uploaded = sorted(
            path.relative_to(staging).as_posix() for path in staging.rglob("*") if path.is_file()
        )
        _upload(
            api,
            token,
            repo_id,
            staging,
            private=private,
            revision=revision,
            message=f"nmt push: {directory.path.name} ({weights_path.name})",
        )
    return uploaded


def _not_json(directory: str, names: list[str]) -> list[str]:
    """``shutil.copytree``'s ignore: of the scores, only the ``nmt evaluate --json`` files."""
    return [n for n in names if not n.endswith(".json") and not Path(directory, n).is_dir()]


def _upload(
    api: HubApi | None,
    token: str | None,
    repo_id: str,
    folder: Path,
    private: bool,
    revision: str | None,
    message: str,
) -> None:
    """Create the repo (and branch) if absent and commit ``folder``; a refusal by the Hub (no
    or a wrong token, no right to the organisation) is a HubError in one line."""
    from huggingface_hub.errors import HfHubHTTPError

    from nmt import __version__

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token, library_name="nmt", library_version=__version__)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), commit_message=message, revision=revision
        )
    except HfHubHTTPError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise HubError(
            f"{repo_id}: the Hub refused the upload: {first} (is a token with write access "
            "given with --token, HF_TOKEN or `hf auth login`?)"
        ) from None


def _scores_dir(model_dir: Path, given: str | Path | None) -> Path | None:
    if given is not None:
        if not Path(given).is_dir():
            raise HubError(f"{given}: scores directory not found")
        return Path(given)
    for candidate in (model_dir / SCORES_DIR, model_dir.parent / SCORES_DIR):
        if candidate.is_dir():
            return candidate
    return None


def read_scores(directory: Path | None) -> dict[str, list[dict[str, Any]]]:
    """test set name -> its score records, from the ``*.json`` files under ``directory``."""
    if directory is None:
        return {}
    scores = {}
    for path in sorted(directory.rglob("*.json")):
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise HubError(f"{path}: not JSON ({error})") from None
        if not isinstance(records, list) or not all("signature" in r for r in records):
            raise HubError(f"{path}: not the output of `nmt evaluate --json`")
        scores[path.relative_to(directory).with_suffix("").as_posix()] = records
    return scores


def _training_facts(directory: ModelDir) -> dict[str, Any]:
    """Steps and hours of training: the counters of the newest step checkpoint (the log does not
    record the training clock); without a readable one, the last validation's step in
    train_log.jsonl."""
    from nmt.checkpoint import CheckpointError, load_checkpoint

    found = directory.step_checkpoints()
    if found:
        try:
            progress = load_checkpoint(found[-1][1]).get("progress", {})
        except CheckpointError:
            progress = {}
        if "step" in progress:
            seconds = progress.get("train_seconds")
            hours = None if seconds is None else seconds / 3600
            return {"steps": progress["step"], "train_hours": hours}
    if not directory.train_log.is_file():
        return {}
    steps = None
    for line in directory.train_log.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a killed run's partial last line
        if record.get("event") == "valid":
            steps = record.get("step", steps)
    return {"steps": steps}


def model_card(config: Config, repo_id: str, facts: CardFacts) -> str:
    """README.md for the Hub: a metadata header (languages, licence, library, tags, metrics with
    their signatures in ``model-index``), then what the model is and how to use it."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    src, tgt = config.data.src_lang, config.data.tgt_lang
    model = config.model
    results = [
        EvalResult(
            task_type="translation",
            task_name=f"Translation {src}-{tgt}",
            dataset_type=test_set,
            dataset_name=test_set,
            metric_type=record["name"],
            metric_name=record["label"],
            metric_value=round(record["score"], 2),
            metric_config=record["signature"],
        )
        for test_set, records in facts.scores.items()
        for record in records
    ]
    data = ModelCardData(
        language=[src, tgt],
        license=facts.license,
        library_name="nmt",
        pipeline_tag="translation",
        tags=["translation", "rnn", model.cell, f"{model.attention}-attention", "sentencepiece"],
        datasets=list(facts.datasets) or None,
        model_name=repo_id,
        eval_results=results or None,
    )
    rows = "\n".join(
        f"| {test_set} | {record['label']} | {record['score']:.2f} | `{record['signature']}` |"
        for test_set, records in facts.scores.items()
        for record in records
    )
    trained = []
    if facts.steps is not None:
        trained.append(f"{facts.steps:,} steps")
    if facts.train_hours is not None:
        trained.append(f"{facts.train_hours:.1f} hours of training")
    sources = ", ".join(config.data.train_src) or config.data.hf_name or "not recorded"
    body = f"""
# {repo_id}

A recurrent {src}→{tgt} translation model trained with [nmt](https://pypi.org/project/nmt/): a
bidirectional {model.cell.upper()} encoder ({model.encoder_layers} layer(s), {model.encoder_hidden}
units), a {model.attention} attention decoder ({model.decoder_layers} layer(s),
{model.decoder_hidden} units) and a SentencePiece vocabulary of {config.tokenizer.vocab_size}.

## Use

```bash
pip install nmt
echo "How are you?" | nmt translate -m {repo_id}
```

```python
from nmt import Translator

translator = Translator.from_pretrained("{repo_id}")
print(translator.translate(["How are you?"]))
```

## Training

{"; ".join(trained) or "Training time not recorded"}. Training data: {sources}.

## Scores

{
        "| test set | metric | score | sacrebleu signature |"
        + chr(10)
        + "|---|---|---|---|"
        + chr(10)
        + rows
        if rows
        else "No scores were recorded for this model."
    }
"""
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{body}"))
