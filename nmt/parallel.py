"""Chunks of input lines to chunks of output text, in one process or several.

``nmt translate`` reads its input in chunks of lines (:func:`nmt.textio.read_line_chunks`) and
writes one block of output per chunk. :class:`ChunkTranslator` does that in this process;
:class:`TranslationPool` hands the chunks to N worker processes, each with its own model and
torch threads, and yields their output in input order. A worker sees exactly the chunks one
process would, so the output is the same byte for byte; on a machine whose cores one process
cannot keep busy (small batches, short sentences), N processes translate more lines a second.
"""

from __future__ import annotations

import collections
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported by the workers, not by the process that starts them
    from nmt.translator import Translation, Translator

Progress = Callable[[int], object]


class ChunkTranslator:
    """Formats each chunk's translations as output lines (UTF-8, LF endings).

    One line per input line, or with ``n_best`` Moses-style "i ||| translation ||| score" lines
    (i counting input lines from 0); ``alignments`` appends " ||| " and "s-t" pairs.
    """

    def __init__(
        self, translator: Translator, overrides: dict[str, Any], n_best: bool, alignments: bool
    ) -> None:
        self.translator = translator
        self.overrides = overrides
        self.n_best, self.alignments = n_best, alignments

    def translate(
        self, lines: list[str], first_index: int, progress: Progress | None = None
    ) -> bytes:
        results = self.translator.translate_hypotheses(lines, progress=progress, **self.overrides)
        return format_translations(results, first_index, self.n_best, self.alignments)

    def chunks(
        self, chunks: Iterable[list[str]], progress: Progress | None = None
    ) -> Iterator[bytes]:
        index = 0
        for lines in chunks:
            yield self.translate(lines, index, progress)
            index += len(lines)


def format_translations(
    results: list[list[Translation]], first_index: int, n_best: bool, alignments: bool
) -> bytes:
    """Output lines for ``results`` (n-best lists of Translation), UTF-8 with LF endings."""
    out = []
    for offset, translations in enumerate(results):
        for translation in translations if n_best else translations[:1]:
            # byte-fallback pieces can decode to line breaks, which would shift every later line
            fields = [translation.text.replace("\r", " ").replace("\n", " ")]
            if n_best:
                fields = [str(first_index + offset), *fields, f"{translation.score:.4f}"]
            if alignments:
                fields.append(" ".join(f"{s}-{t}" for s, t in translation.alignment))
            out.append(" ||| ".join(fields) + "\n")
    return "".join(out).encode("utf-8")


class TranslationPool:
    """``workers`` processes, each loading the model with ``Translator.from_pretrained(**load)``.

    At most two chunks per worker are in flight, so a long input or a pipe is never read far
    ahead of the output. Workers are started with "spawn": a forked copy of a process that
    already runs torch threads can deadlock.
    """

    def __init__(
        self,
        workers: int,
        load: dict[str, Any],
        overrides: dict[str, Any],
        output_format: dict[str, bool],
    ) -> None:
        self.workers = workers
        self.executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(load, overrides, output_format),
        )

    def __enter__(self) -> TranslationPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def chunks(
        self, chunks: Iterable[list[str]], progress: Progress | None = None
    ) -> Iterator[bytes]:
        pending: collections.deque[tuple[Future[bytes], int]] = collections.deque()
        index = 0
        for lines in chunks:
            pending.append((self.executor.submit(_translate_chunk, lines, index), len(lines)))
            index += len(lines)
            if len(pending) >= 2 * self.workers:
                yield self._next(pending, progress)
        while pending:
            yield self._next(pending, progress)

    @staticmethod
    def _next(
        pending: collections.deque[tuple[Future[bytes], int]], progress: Progress | None
    ) -> bytes:
        future, count = pending.popleft()
        output = future.result()  # a worker's error is raised here, in input order
        if progress is not None:
            progress(count)
        return output


_worker: ChunkTranslator | None = None  # the model of this worker process


def _start_worker(
    load: dict[str, Any], overrides: dict[str, Any], output_format: dict[str, bool]
) -> None:
    from nmt.allocator import keep_freed_memory

    keep_freed_memory()  # before torch allocates anything
    from nmt.translator import Translator

    global _worker
    _worker = ChunkTranslator(Translator.from_pretrained(**load), overrides, **output_format)


def _translate_chunk(lines: list[str], first_index: int) -> bytes:
    assert _worker is not None, "the worker's model was not loaded"
    return _worker.translate(lines, first_index)
