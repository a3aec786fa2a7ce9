"""Cross-request batching: one queue and one decoding thread per model.

The event loop never decodes. A request becomes a :class:`Job` in its model's queue and awaits a
future; the model's thread takes every job waiting at the front of the queue, up to a budget of
source pieces (always at least one job), hands all their lines to the translator in one call (it
sorts them by length into batches), and gives each job its own slice of the results in the event
loop's thread. Jobs with different search settings in one take are decoded in one call per
setting. A decoding error fails only the jobs of that call; the thread goes on.

On :meth:`ModelWorker.stop` the thread finishes every job already queued, then exits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nmt.translator import Translation, Translator

log = logging.getLogger("nmt.serve")


@dataclass(frozen=True)
class SearchOptions:
    """The search settings a request may choose; jobs with equal options decode together."""

    beam_size: int
    n_best: int


@dataclass(frozen=True)
class BatchInfo:
    """The decoding call that answered a job: how many requests and lines it held, its seconds."""

    requests: int
    lines: int
    seconds: float


@dataclass(frozen=True)
class Batching:
    """How a model's queue is bounded and drained."""

    max_queue: int = 64  # requests waiting per model; more are refused (503)
    max_batch_pieces: int = 4096  # source pieces taken from the queue into one decoding call
    # sentences per search batch (None: the model's decoding.batch_size)
    batch_size: int | None = None


class QueueFull(Exception):
    """The model's queue holds ``max_queue`` jobs: the caller should retry later (503)."""


class ModelUnavailable(Exception):
    """The model is loading, failed to load, or the server is stopping (503)."""


class DecodingFailed(Exception):
    """The translator raised while decoding a batch this job was in (500)."""


@dataclass(eq=False)
class Job:
    lines: list[str]
    options: SearchOptions
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[tuple[list[list[Translation]], BatchInfo]]
    pieces: int | None = field(default=None)  # source pieces, counted by the worker thread


class ModelWorker:
    """One model: loaded by its own thread, which then decodes its queue until stopped.

    ``state`` is "loading", "ready", "failed" or "stopped". ``on_batch(model, info)`` is called in
    the worker thread after each decoding call (metrics); ``on_failure(model, error)`` when
    loading fails (the server exits).
    """

    def __init__(
        self,
        name: str,
        load: Callable[[], Translator],
        batching: Batching,
        on_batch: Callable[[str, BatchInfo], None] | None = None,
        on_failure: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.name = name
        self.state = "loading"
        self.error: str | None = None
        self.translator: Translator | None = None
        self._load = load
        self._batching = batching
        self._on_batch = on_batch
        self._on_failure = on_failure
        self._queue: deque[Job] = deque()
        self._wakeup = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"decode-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Refuse new jobs, let the thread finish the queued ones, and wait for it."""
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def translate(
        self, lines: list[str], options: SearchOptions, timeout: float
    ) -> tuple[list[list[Translation]], BatchInfo]:
        """The n-best translations of ``lines`` in order, and the batch that decoded them.

        Raises QueueFull, ModelUnavailable, DecodingFailed, or TimeoutError after ``timeout``
        seconds (a job still queued then is skipped by the worker).
        """
        if self.state != "ready":
            raise ModelUnavailable(self._unavailable_reason())
        loop = asyncio.get_running_loop()
        job = Job(lines, options, loop, loop.create_future())
        with self._wakeup:
            if self._stopping:
                raise ModelUnavailable("the server is shutting down")
            if len(self._queue) >= self._batching.max_queue:
                raise QueueFull(f"model {self.name!r} has {len(self._queue)} requests waiting")
            self._queue.append(job)
            self._wakeup.notify()
        return await asyncio.wait_for(job.future, timeout)

    def _unavailable_reason(self) -> str:
        if self.state == "loading":
            return f"model {self.name!r} is still loading"
        if self.state == "failed":
            return f"model {self.name!r} failed to load: {self.error}"
        return "the server is shutting down"

    def _run(self) -> None:
        try:
            self.translator = self._load()
        except BaseException as error:  # noqa: B036 - reported, and the server exits
            self.state, self.error = "failed", str(error) or type(error).__name__
            log.error("model %s failed to load: %s", self.name, self.error)
            if self._on_failure is not None:
                self._on_failure(self.name, error)
            return
        self.state = "ready"
        log.info("model %s loaded", self.name)
        while (jobs := self._take()) is not None:
            try:
                self._decode(jobs)
            except Exception as error:  # a bug in delivery must not kill the thread either
                log.exception("model %s: unexpected error", self.name)
                for job in jobs:
                    _deliver(job, error=DecodingFailed(str(error)))
        self.state = "stopped"

    def _take(self) -> list[Job] | None:
        """The jobs at the front of the queue that fit the piece budget (at least one), or None
        once stopping with an empty queue. Pieces are counted outside the lock: only this thread
        removes jobs, so the front of the queue cannot change meanwhile."""
        with self._wakeup:
            while not self._queue and not self._stopping:
                self._wakeup.wait()
            if not self._queue:
                return None
            waiting = list(self._queue)
        taken, pieces = 0, 0
        for job in waiting:
            if job.pieces is None:
                job.pieces = self._count_pieces(job.lines)
            if taken and pieces + job.pieces > self._batching.max_batch_pieces:
                break
            taken, pieces = taken + 1, pieces + job.pieces
        with self._wakeup:
            jobs = [self._queue.popleft() for _ in range(taken)]
        return [job for job in jobs if not job.future.done()]  # done: its caller timed out

    def _count_pieces(self, lines: list[str]) -> int:
        try:
            return sum(map(len, self.translator.tokenizer.encode_src(lines)))
        except Exception:  # the translator will report it; characters are budget enough
            return sum(map(len, lines))

    def _decode(self, jobs: list[Job]) -> None:
        groups: dict[SearchOptions, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.options, []).append(job)
        for options, group in groups.items():
            lines = [line for job in group for line in job.lines]
            start = time.perf_counter()
            try:
                results = self.translator.translate_hypotheses(
                    lines,
                    beam_size=options.beam_size,
                    n_best=options.n_best,
                    batch_size=self._batching.batch_size,
                )
            except Exception as error:
                log.exception("model %s: decoding %d lines failed", self.name, len(lines))
                for job in group:
                    _deliver(job, error=DecodingFailed(f"{type(error).__name__}: {error}"))
                continue
            info = BatchInfo(len(group), len(lines), time.perf_counter() - start)
            if self._on_batch is not None:
                self._on_batch(self.name, info)
            first = 0
            for job in group:
                _deliver(job, result=(results[first : first + len(job.lines)], info))
                first += len(job.lines)


def _deliver(
    job: Job,
    result: tuple[list[list[Translation]], BatchInfo] | None = None,
    error: Exception | None = None,
) -> None:
    """Complete ``job.future`` in its event loop's thread, unless its caller gave up."""

    def complete() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    try:
        job.loop.call_soon_threadsafe(complete)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass
