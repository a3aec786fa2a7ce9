#!/usr/bin/env python
"""Stage 0 of recipes/en_es/run.sh: put an experiment's corpora into ``EXP/data``.

    prepare_data.py --data-dir ../shared/data/en-es --out EXP/data      # a local copy
    prepare_data.py --download --out EXP/data                           # fetch them (online)

The output has the layout of ``shared/data/en-es`` (``CORPUS/SPLIT.LANG``, training files
gzipped), for English and Spanish whatever the direction, plus:

    valid.en, valid.es   the validation set: the first --valid-lines of each --valid set, joined
    manifest.json        which sets are there, their files and line counts, and the options used

``--train`` names the training corpora (default ``default_train_sets``: Tatoeba, News
Commentary, the earlier WMT news test sets and the news validation set's lines past the held-out
ones, each news set 4 times); ``SET*K`` reads one K times an epoch (the manifest's ``repeat``;
run.sh lists its files K times), and ``SET:FIRST-LAST`` only its lines FIRST to LAST (counted
from 1; without LAST, to the end), e.g. ``wmt/newstest2011:1301-*4``: the lines of a validation
set past the first ``--held-out-lines``, which validation and stage 4's tuning read and training
may not. From a local copy, files are linked, not copied, except training sets other than
``PREFILTERED_SETS`` (e.g. ``NEWS_TRAIN_SETS``) and line ranges: the shared copy did not filter
those, so they are written without the pairs that share a side with an evaluation set (for a
range of a validation set: with its held-out lines). A default news set missing (or, for a
range, with no lines past the held-out ones) is left out with a warning; ``--download`` cannot
fetch ``wmt/newssyscomb2009`` (``MANUAL_SETS``). ``--max-train-pairs`` (every k-th pair of each
training corpus, so that short and long sentences stay represented) and ``--max-eval-lines``
(the first lines of each evaluation set) write smaller files instead, for quick runs; the
manifest records both counts, and the results table shows a sliced test set as "N of M" lines.

``--download`` fetches the corpora with ``datasets`` from the Hugging Face hub (and WMT news test
sets with sacrebleu's downloader), see ``HUB_SOURCES``, and removes from the training data every
pair one of whose sides equals, after normalisation, a side of an evaluation set, as was done for
the shared copy. Offline (``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``) it stops at once and asks
for ``--data-dir``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import unicodedata
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

LANGS = ("en", "es")
PREFILTERED_SETS = ("tatoeba/train", "newscommentary/train")
# Earlier WMT test sets: in-domain news (headlines included) for the newstest2012 target. Unlike
# the corpora above they were not filtered for overlap in the shared copy, so stage 0 does it.
# Read 4 times an epoch: es-en newstest2012 chrF +0.8, FLORES +0.3
# (docs/experiments/recipe-2026-11-27.md, "Earlier WMT news test sets as training data");
# newssyscomb2009 and the unread lines of the news validation set another +0.3 and +0.2
# (docs/experiments/recipe-2026-11-28.md, "The more-news es-en run").
NEWS_TRAIN_SETS = (
    "wmt/newstest2008",
    "wmt/newstest2009",
    "wmt/newstest2010",
    "wmt/newssyscomb2009",
)
NEWS_REPEAT = 4
VALID_SETS = ("tatoeba/dev", "wmt/newstest2011")
NEWS_VALID_SET = "wmt/newstest2011"  # trained on past the lines validation and tuning read
TEST_SETS = ("tatoeba/test", "flores/dev", "wmt/newstest2012", "tico19/test")


def default_train_sets(held_out: int, valid: Collection[str] = VALID_SETS) -> list[str]:
    """The training sets when ``--train`` is not given: ``PREFILTERED_SETS``, the news sets
    ``NEWS_REPEAT`` times each, and the news validation set's lines past ``held_out``."""
    news = [f"{name}*{NEWS_REPEAT}" for name in NEWS_TRAIN_SETS]
    if NEWS_VALID_SET in valid:
        news.append(f"{NEWS_VALID_SET}:{held_out + 1}-*{NEWS_REPEAT}")
    return [*PREFILTERED_SETS, *news]


class PrepareError(Exception):
    """Missing or misaligned input, or no way to fetch it; the message says what to do."""


_LINE_RANGE = re.compile(r"^(?P<corpus>[^:]+):(?P<first>\d+)-(?P<last>\d*)$")


def line_range(name: str) -> tuple[str, int | None, int | None]:
    """``CORPUS:FIRST-LAST`` -> (corpus, first, last), lines counted from 1 and ``last`` None for
    "to the end"; a plain name -> (name, None, None)."""
    if ":" not in name:
        return name, None, None
    match = _LINE_RANGE.match(name)
    if match is None or int(match["first"]) < 1:
        raise PrepareError(f"training set '{name}': a line range is CORPUS:FIRST-LAST or FIRST-")
    first, last = int(match["first"]), int(match["last"]) if match["last"] else None
    if last is not None and last < first:
        raise PrepareError(f"training set '{name}': the range ends before it starts")
    return match["corpus"], first, last


def corpus_of(name: str) -> str:
    """The corpus a training set reads: ``name`` without its line range."""
    return line_range(name)[0]


# ---- reading and writing ---------------------------------------------------------------------


def find_file(directory: Path, name: str, lang: str) -> Path | None:
    """``directory/name.lang``, plain or gzipped, or None."""
    for candidate in (directory / f"{name}.{lang}", directory / f"{name}.{lang}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_lines(path: Path) -> Iterator[str]:
    """Lines without their line ending, from a plain or gzipped UTF-8 file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            yield line.rstrip("\n")


def count_lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        return sum(1 for _ in handle)


def write_lines(path: Path, lines: list[str]) -> None:
    """Write one segment a line (gzipped when the name ends in .gz), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    text = "".join(line.replace("\n", " ") + "\n" for line in lines).encode("utf-8")
    if path.suffix == ".gz":
        text = gzip.compress(text, mtime=0)
    temporary.write_bytes(text)
    os.replace(temporary, path)


def link(target: Path, path: Path) -> None:
    """``path`` -> ``target`` (absolute), replacing whatever ``path`` was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target.resolve())


def spread(total: int, count: int | None) -> list[int] | None:
    """``count`` indices spread evenly over ``range(total)``; None (keep all) when they would be."""
    if count is None or count >= total:
        return None
    return [i * total // count for i in range(count)]


# ---- from a local copy ------------------------------------------------------------------------


@dataclass
class SetFiles:
    """One corpus split as written into the experiment."""

    name: str  # e.g. "tatoeba/test"
    files: dict[str, str]  # language -> path relative to the output directory
    lines: int  # lines written
    total: int  # lines of the original

    def record(self) -> dict:
        return {"files": self.files, "lines": self.lines, "of": self.total}


def copy_set(
    data_dir: Path, out: Path, name: str, first: int | None = None, sample: int | None = None
) -> SetFiles:
    """Link ``data_dir/name.{en,es}`` into ``out``, or write a slice: the ``first`` lines, or
    ``sample`` pairs spread evenly. Both languages must have the same line count."""
    sources = {}
    for lang in LANGS:
        found = find_file(data_dir / Path(name).parent, Path(name).name, lang)
        if found is None:
            raise PrepareError(
                f"{data_dir / name}.{lang}(.gz) not found: DATA_DIR must have the layout of "
                "shared/data/en-es (CORPUS/SPLIT.en and .es, plain or gzipped)"
            )
        sources[lang] = found
    counts = {lang: count_lines(path) for lang, path in sources.items()}
    if counts["en"] != counts["es"]:
        raise PrepareError(
            f"{sources['en']} has {counts['en']} lines but {sources['es']} has {counts['es']}; "
            "parallel files must be line-aligned"
        )
    total = counts["en"]
    keep = spread(total, sample)
    if first is not None and first < total:
        keep = list(range(first))
    files = {}
    for lang, source in sources.items():
        suffix = ".gz" if source.suffix == ".gz" else ""
        path = out / f"{name}.{lang}{suffix}"
        for stale in (out / f"{name}.{lang}", out / f"{name}.{lang}.gz"):
            if stale != path and (stale.is_symlink() or stale.exists()):
                stale.unlink()
        if keep is None:
            link(source, path)
        else:
            wanted = set(keep)
            write_lines(path, [line for i, line in enumerate(read_lines(source)) if i in wanted])
        files[lang] = str(path.relative_to(out))
    return SetFiles(name, files, total if keep is None else len(keep), total)


# ---- from the hub -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HubSource:
    """Where ``datasets.load_dataset`` finds one split, and which fields hold en and es."""

    path: str
    config: str | None
    split: str
    en: str  # dotted field path, e.g. "translation.en"
    es: str
    revision: str | None = None
    data_files: str | None = None
    note: str = ""


HUB_SOURCES: dict[str, HubSource | tuple[HubSource, HubSource]] = {
    # Tatoeba sentence pairs (the Anki files are drawn from Tatoeba), OPUS release, parquet.
    "tatoeba/train": HubSource(
        "plektos/Tatoeba.en-es", None, "train", "translation.en", "translation.es"
    ),
    # The Tatoeba Translation Challenge v2021-08-07 (the shared tatoeba/test is its eng-spa
    # test); the repository's loading script no longer runs, so its parquet conversion is read.
    "tatoeba/dev": HubSource(
        "Helsinki-NLP/tatoeba_mt",
        None,
        "validation",
        "sourceString",
        "targetString",
        revision="refs/convert/parquet",
        data_files="eng-spa/tatoeba_mt-validation.parquet",
    ),
    "tatoeba/test": HubSource(
        "Helsinki-NLP/tatoeba_mt",
        None,
        "test",
        "sourceString",
        "targetString",
        revision="refs/convert/parquet",
        data_files="eng-spa/tatoeba_mt-test.parquet",
    ),
    "newscommentary/train": HubSource(
        "Helsinki-NLP/news_commentary", "en-es", "train", "translation.en", "translation.es"
    ),
    # FLORES+ is gated: accept its terms on the hub and log in (`hf auth login`) first.
    "flores/dev": (
        HubSource("openlanguagedata/flores_plus", "eng_Latn", "dev", "text", "text"),
        HubSource("openlanguagedata/flores_plus", "spa_Latn", "dev", "text", "text"),
    ),
}
# WMT news test sets come from statmt.org through sacrebleu's downloader (newstestYYYY = wmtYY).
WMT_SETS = {
    "wmt/newstest2008": "wmt08",
    "wmt/newstest2009": "wmt09",
    "wmt/newstest2010": "wmt10",
    "wmt/newstest2011": "wmt11",
    "wmt/newstest2012": "wmt12",
}
# Not fetched: no loader that works with datasets>=4 is known; place the files by hand.
MANUAL_SETS = {
    "wmt/newssyscomb2009": "WMT09's system-combination set (502 lines; sacrebleu does not "
    "package it): to train on it, use a DATA_DIR with wmt/newssyscomb2009.en and .es",
    "tico19/test": "TICO-19 (https://tico-19.github.io, English -> Latin-American Spanish, "
    "2,100 lines): to evaluate on it, use a DATA_DIR with tico19/test.en and test.es",
}


def hub_offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _field(record: dict, path: str) -> str:
    value = record
    for key in path.split("."):
        value = value[key]
    return value


def _load(source: HubSource) -> list[dict]:
    import datasets

    kwargs = {}
    if source.data_files is not None:
        kwargs["data_files"] = {source.split: source.data_files}
    dataset = datasets.load_dataset(
        source.path, source.config, split=source.split, revision=source.revision, **kwargs
    )
    return list(dataset)


def fetch_hub(name: str) -> tuple[list[str], list[str]]:
    """English and Spanish lines of one set from the hub."""
    source = HUB_SOURCES[name]
    if isinstance(source, tuple):  # one dataset per language, aligned by position
        english = [_field(r, source[0].en) for r in _load(source[0])]
        spanish = [_field(r, source[1].es) for r in _load(source[1])]
    else:
        records = _load(source)
        english = [_field(r, source.en) for r in records]
        spanish = [_field(r, source.es) for r in records]
    if len(english) != len(spanish):
        raise PrepareError(f"{name}: {len(english)} English but {len(spanish)} Spanish lines")
    return english, spanish


def fetch_wmt(name: str) -> tuple[list[str], list[str]]:
    from sacrebleu.dataset import DATASETS

    dataset = DATASETS[WMT_SETS[name]]
    dataset.maybe_download()
    english = list(read_lines(Path(dataset.get_source_file("en-es"))))
    spanish = list(read_lines(Path(dataset.get_reference_files("en-es")[0])))
    return english, spanish


_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """NFKC, lower case, punctuation removed, whitespace collapsed: what counts as the same side."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def normalised_sides(pairs: Iterable[tuple[list[str], list[str]]]) -> set[str]:
    return {normalise(line) for pair in pairs for side in pair for line in side}


def drop_overlap(
    name: str, english: list[str], spanish: list[str], evaluation: set[str]
) -> tuple[list[str], list[str]]:
    """The training pairs with no empty side and neither side (normalised) in ``evaluation``."""
    kept = [
        (e, s)
        for e, s in zip(english, spanish, strict=True)
        if e.strip()
        and s.strip()
        and normalise(e) not in evaluation
        and normalise(s) not in evaluation
    ]
    print(f"{name}: kept {len(kept):,} of {len(english):,} pairs (no evaluation overlap)")
    return [e for e, _ in kept], [s for _, s in kept]


def download(
    out: Path, train: list[str], sets: list[str]
) -> dict[str, tuple[list[str], list[str]]]:
    """Fetch ``train`` and ``sets``; an evaluation set that cannot be fetched is reported and
    left out."""
    if hub_offline():
        raise PrepareError(
            "cannot download: HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set. Pass DATA_DIR=DIR "
            "(run.sh --data-dir DIR), a folder with the layout of shared/data/en-es, e.g. "
            "DATA_DIR=../shared/data/en-es"
        )
    fetched = {}
    for name in [*train, *sets]:
        try:
            if name in WMT_SETS:
                fetched[name] = fetch_wmt(name)
            elif name in HUB_SOURCES:
                fetched[name] = fetch_hub(name)
            else:  # a training set asked for by name is then reported missing
                print(f"warning: {name} is not downloaded: {MANUAL_SETS.get(name, '')}")
        except Exception as error:  # network, gating and hub errors come in many types
            if name in train:
                raise PrepareError(
                    f"{name}: download failed ({type(error).__name__}: {error}); without "
                    "internet access pass DATA_DIR=DIR with the layout of shared/data/en-es"
                ) from None
            print(f"warning: {name} left out, download failed: {type(error).__name__}: {error}")
    evaluation = normalised_sides(pair for name, pair in fetched.items() if name not in train)
    for name in [n for n in train if n in fetched]:
        fetched[name] = drop_overlap(name, *fetched[name], evaluation)
    for name, (english, spanish) in fetched.items():
        suffix = ".gz" if name in train else ""
        write_lines(out / "download" / f"{name}.en{suffix}", english)
        write_lines(out / "download" / f"{name}.es{suffix}", spanish)
    return fetched


# ---- the experiment's data --------------------------------------------------------------------


def parse_train(specs: list[str]) -> dict[str, int]:
    """``NAME`` or ``NAME*K`` (the corpus K times in each epoch) -> {name: K}; a name may carry
    a line range (``line_range``)."""
    repeats = {}
    for spec in specs:
        name, star, times = spec.partition("*")
        line_range(name)  # a malformed range stops here
        repeat = int(times) if times.isdigit() else 0 if star else 1
        if repeat < 1:
            raise PrepareError(f"training set '{spec}': the repeat after '*' must be >= 1")
        if name in repeats:
            raise PrepareError(f"training set {name} is listed twice")
        repeats[name] = repeat
    return repeats


def read_pairs(data_dir: Path, name: str) -> tuple[list[str], list[str]]:
    """The English and Spanish lines of ``data_dir/name``, checked to be line-aligned."""
    paths = {g: find_file(data_dir / Path(name).parent, Path(name).name, g) for g in LANGS}
    english, spanish = (list(read_lines(paths[g])) for g in LANGS)
    if len(english) != len(spanish):
        raise PrepareError(
            f"{paths['en']} has {len(english)} lines but {paths['es']} has {len(spanish)}; "
            "parallel files must be line-aligned"
        )
    return english, spanish


def filter_set(
    data_dir: Path, out: Path, name: str, evaluation: set[str], sample: int | None
) -> SetFiles:
    """Write ``name`` (its line range, if it has one) without the pairs that overlap an
    evaluation set, and sampled if asked."""
    corpus, first, last = line_range(name)
    english, spanish = read_pairs(data_dir, corpus)
    if first is not None:
        last = min(last or len(english), len(english))
        if first > last:
            raise PrepareError(f"training set '{name}': {corpus} has only {len(english)} lines")
        english, spanish = english[first - 1 : last], spanish[first - 1 : last]
        corpus = f"{corpus}.{first}-{last}"  # the file's name: the whole corpus may be evaluated
    total = len(english)
    english, spanish = drop_overlap(name, english, spanish, evaluation)
    keep = spread(len(english), sample)
    if keep is not None:
        english, spanish = [english[i] for i in keep], [spanish[i] for i in keep]
    files = {}
    for lang, lines in zip(LANGS, (english, spanish), strict=True):
        path = out / f"{corpus}.{lang}.gz"
        for stale in (out / f"{corpus}.{lang}", path):
            if stale.is_symlink() or stale.exists():
                stale.unlink()
        write_lines(path, lines)
        files[lang] = str(path.relative_to(out))
    return SetFiles(name, files, len(english), total)


def prepare(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    evaluation_sets = list(dict.fromkeys([*args.valid, *args.test]))
    held_out = args.valid_lines if args.held_out_lines is None else args.held_out_lines
    repeats = parse_train(args.train or default_train_sets(held_out, args.valid))
    train = list(repeats)
    for name in train:
        corpus, first, _ = line_range(name)
        if corpus in args.valid and first is not None and first > held_out:
            continue  # lines that neither validation nor tuning reads
        if corpus in evaluation_sets:
            where = f"; a range of a validation set must start after line {held_out}"
            raise PrepareError(
                f"{name}: a training set cannot also be evaluated on"
                + (where if corpus in args.valid else "")
            )
    if args.download:
        corpora = dict.fromkeys(corpus_of(name) for name in train)
        fetched = download(out, [c for c in corpora if c not in evaluation_sets], evaluation_sets)
        data_dir = out / "download"
        available = set(fetched)
        origin = "Hugging Face hub and statmt.org (see prepare_data.py HUB_SOURCES)"
    else:
        data_dir = Path(args.data_dir)
        if not data_dir.is_dir():
            raise PrepareError(f"DATA_DIR {data_dir} is not a directory")
        available = {
            name
            for name in [*map(corpus_of, train), *evaluation_sets]
            if all(find_file(data_dir / Path(name).parent, Path(name).name, g) for g in LANGS)
        }
        origin = str(data_dir.resolve())
    if not args.train:  # the default news sets are optional: left out when absent or empty
        for name in [n for n in train if n not in PREFILTERED_SETS]:
            corpus, first, _ = line_range(name)
            if corpus not in available:
                why = f"not found in {data_dir}"
            elif first is not None and first > len(read_pairs(data_dir, corpus)[0]):
                why = f"has no lines past the first {held_out}"
            else:
                continue
            print(f"warning: {corpus} {why}; trained without {name}")
            train.remove(name)
    missing_train = [name for name in train if corpus_of(name) not in available]
    if missing_train:
        raise PrepareError(f"training corpora missing from {data_dir}: {', '.join(missing_train)}")

    manifest = {
        "origin": origin,
        "options": {
            "max_train_pairs": args.max_train_pairs,
            "max_eval_lines": args.max_eval_lines,
            "valid_lines": args.valid_lines,
            "held_out_lines": held_out,
        },
        "train": [],
        "valid": [],
        "test": [],
        "sets": {},
    }
    sides: dict[str, set[str]] | None = None  # each evaluation set's normalised sides
    for name in train:
        corpus = corpus_of(name)
        if name in PREFILTERED_SETS or (args.download and corpus == name):  # filtered already
            entry = copy_set(data_dir, out, name, sample=args.max_train_pairs).record()
        else:
            if sides is None:  # read once, and only when a set needs filtering
                sides = {
                    n: normalised_sides([read_pairs(data_dir, n)])
                    for n in evaluation_sets
                    if n in available
                }
            evaluation = set().union(*(s for n, s in sides.items() if n != corpus))
            if corpus in sides:  # a range past a validation set's held-out lines: those count
                english, spanish = read_pairs(data_dir, corpus)
                evaluation |= normalised_sides([(english[:held_out], spanish[:held_out])])
            entry = filter_set(data_dir, out, name, evaluation, args.max_train_pairs).record()
        if repeats[name] > 1:
            entry["repeat"] = repeats[name]
        manifest["sets"][name] = entry
        manifest["train"].append(name)
    for name in evaluation_sets:
        if name not in available:
            print(f"warning: {name} not found in {data_dir}; it is left out")
            continue
        manifest["sets"][name] = copy_set(data_dir, out, name, first=args.max_eval_lines).record()

    valid = {lang: [] for lang in LANGS}
    for name in args.valid:
        if name not in manifest["sets"]:
            continue
        for lang in LANGS:
            lines = list(read_lines(out / manifest["sets"][name]["files"][lang]))
            valid[lang].extend(lines[: args.valid_lines])
        manifest["valid"].append(name)
    if not valid["en"]:
        raise PrepareError(f"no validation set found among {', '.join(args.valid)}")
    for lang in LANGS:
        write_lines(out / f"valid.{lang}", valid[lang])
    manifest["sets"]["valid"] = {
        "files": {lang: f"valid.{lang}" for lang in LANGS},
        "lines": len(valid["en"]),
        "of": len(valid["en"]),
    }
    manifest["test"] = [name for name in args.test if name in manifest["sets"]]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", metavar="DIR", help="a copy with the shared/data/en-es layout")
    where.add_argument("--download", action="store_true", help="fetch the corpora (online)")
    parser.add_argument("--out", required=True, metavar="DIR", help="the experiment's data folder")
    parser.add_argument(
        "--train",
        nargs="+",
        metavar="SET",
        help=f"training corpora (default: {' '.join(default_train_sets(0))}, the range "
        "starting past --held-out-lines instead); SET*K repeats one K times "
        "per epoch, SET:FIRST-LAST reads its lines FIRST to LAST (FIRST-: to the end)",
    )
    parser.add_argument("--valid", nargs="+", default=list(VALID_SETS), metavar="SET")
    parser.add_argument("--test", nargs="+", default=list(TEST_SETS), metavar="SET")
    parser.add_argument(
        "--valid-lines", type=int, default=500, metavar="N", help="lines from each --valid set"
    )
    parser.add_argument(
        "--held-out-lines",
        type=int,
        metavar="N",
        help="first lines of each --valid set that no training range may read: validation's and "
        "stage 4's tuning lines (default: --valid-lines)",
    )
    parser.add_argument(
        "--max-train-pairs", type=int, metavar="N", help="keep N pairs of each training corpus"
    )
    parser.add_argument(
        "--max-eval-lines", type=int, metavar="N", help="keep the first N lines of each eval set"
    )
    args = parser.parse_args(argv)
    try:
        manifest = prepare(args)
    except PrepareError as error:
        print(f"prepare_data.py: error: {error}", file=sys.stderr)
        return 2
    for name in [*manifest["train"], "valid", *manifest["test"]]:
        entry = manifest["sets"][name]
        sliced = "" if entry["lines"] == entry["of"] else f" (of {entry['of']:,})"
        print(f"{name}: {entry['lines']:,} lines{sliced}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
