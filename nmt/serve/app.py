"""The HTTP application: routes, errors as ``{"error": MESSAGE}``, the API key, request logging and
metrics, and the web page in ``static/``.

Every answer that is not a translation is JSON ``{"error": "..."}`` with a 4xx status that says what
was wrong (503 with ``Retry-After`` when the server is busy or still loading; 500 only when the
translator itself fails, for the requests of that batch alone).

The API key, when set, is required from every client, loopback included: behind a reverse proxy
on the same machine every client is loopback. ``/``, ``/static``, ``/docs``, ``/health``,
``/models`` and ``/languages`` stay open, so a page and a load balancer can see the server.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from nmt import __version__
from nmt.serve.api import (
    ApiError,
    ErrorResponse,
    Hypothesis,
    LibreTranslateRequest,
    LibreTranslateResponse,
    Limits,
    TranslateRequest,
    TranslateResponse,
    TranslationOut,
    check_lines,
    finite,
    parse,
    read_body,
    search_options,
)
from nmt.serve.batcher import (
    BatchInfo,
    Batching,
    DecodingFailed,
    ModelUnavailable,
    ModelWorker,
    QueueFull,
    SearchOptions,
)
from nmt.serve.metrics import ServerMetrics

if TYPE_CHECKING:
    from nmt.translator import Translation, Translator

log = logging.getLogger("nmt.serve")
STATIC = Path(__file__).parent / "static"
# Names for /languages (LibreTranslate lists a name with each code); other codes name themselves.
LANGUAGE_NAMES = {
    "ar": "Arabic", "ca": "Catalan", "de": "German", "en": "English", "es": "Spanish",
    "eu": "Basque", "fr": "French", "gl": "Galician", "it": "Italian", "ja": "Japanese",
    "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "zh": "Chinese",
}  # fmt: skip


def _body_doc() -> dict[str, object]:
    """The two request shapes of POST /translate for the OpenAPI page (the body is read by hand)."""
    shapes = [TranslateRequest.model_json_schema(), LibreTranslateRequest.model_json_schema()]
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": shapes}}},
        }
    }


def _error_doc(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {status: {"model": ErrorResponse} for status in statuses}


def create_app(
    loaders: dict[str, Callable[[], Translator]],
    limits: Limits,
    batching: Batching,
    api_key: str | None = None,
    on_failure: Callable[[str, BaseException], None] | None = None,
) -> FastAPI:
    """An app serving one model per ``loaders`` entry (name -> load function). Each model is
    loaded by its own decoding thread when the app starts; /health is 503 until all are."""
    metrics = ServerMetrics()
    workers = {
        name: ModelWorker(name, load, batching, metrics.batch, on_failure)
        for name, load in loaders.items()
    }
    for name, worker in workers.items():
        metrics.watch_queue(name, lambda worker=worker: worker.queued)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for worker in workers.values():
            worker.start()
        yield
        # uvicorn has answered every request in flight by now; the threads finish what is queued
        log.info("stopping: %d requests queued", sum(w.queued for w in workers.values()))
        # past the timeout every queued request has been answered 503: a stuck batch may not
        # hold the process
        await asyncio.to_thread(lambda: [w.stop(limits.timeout) for w in workers.values()])
        log.info("stopped")

    app = FastAPI(
        title="nmt serve",
        version=__version__,
        description="Neural machine translation over HTTP: our JSON API and LibreTranslate's.",
        lifespan=lifespan,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def fail(
        status: int, message: str, kind: str, headers: dict[str, str] | None = None
    ) -> Response:
        metrics.errors.labels(kind).inc()
        return JSONResponse({"error": message}, status, headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return fail(error.status, error.message, error.kind, error.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            message = f"no such endpoint: {request.url.path}; the API is described at /docs"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(error.detail)
        return fail(error.status_code, message, "not_found", getattr(error, "headers", None))

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Log one line per request and count it; an unexpected error is a 500 JSON answer."""
        start = time.perf_counter()
        request.state.log = {}
        try:
            response = await call_next(request)
        except Exception as error:
            log.exception("%s %s failed", request.method, request.url.path)
            response = fail(500, f"internal error: {type(error).__name__}: {error}", "internal")
        seconds = time.perf_counter() - start
        route = request.scope.get("route")
        metrics.request(getattr(route, "path", "other"), response.status_code, seconds)
        details = " ".join(f"{key}={value}" for key, value in request.state.log.items())
        client = request.client.host if request.client else "-"
        log.info(
            "%s %s %s %d %.1fms %s",
            client, request.method, request.url.path, response.status_code, 1000 * seconds, details,
        )  # fmt: skip
        return response

    def authorize(request: Request, body_key: object = None) -> None:
        if api_key is None:
            return
        given = request.headers.get("x-api-key")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if given is None and scheme.lower() == "bearer":
            given = token.strip()
        if given is None and isinstance(body_key, str):
            given = body_key
        if not given:
            raise ApiError(
                401,
                "this server needs an API key: send the header 'Authorization: Bearer KEY' or "
                "'X-API-Key: KEY', or the field api_key",
                "auth",
                {"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), api_key.encode("utf-8")):
            raise ApiError(403, "the API key is not valid", "auth")

    def busy(message: str, kind: str) -> ApiError:
        return ApiError(503, message, kind, {"Retry-After": str(limits.retry_after)})

    def ready(worker: ModelWorker) -> Translator:
        if worker.translator is None or worker.state != "ready":
            raise busy(f"model {worker.name!r} is not ready ({worker.state})", "unavailable")
        return worker.translator

    def directions() -> dict[str, tuple[str, str]]:
        """Each model's (source, target) languages; 503 while any model is loading."""
        found = {}
        for name, worker in workers.items():
            data = ready(worker).config.data
            found[name] = (data.src_lang, data.tgt_lang)
        return found

    def choose(model: str | None, source: str | None, target: str | None) -> ModelWorker:
        """The model named, or the one translating ``source`` (``auto``: any) into ``target``."""
        if model is not None:
            if model not in workers:
                raise ApiError(
                    400,
                    f"unknown model {model[:100]!r}; this server has {', '.join(workers)}",
                    "unknown_model",
                )
            return workers[model]
        if source is None and target is None:
            if len(workers) > 1:
                raise ApiError(
                    400,
                    f"this server has several models ({', '.join(workers)}): name one with "
                    "'model', or give 'source' and 'target'",
                    "unknown_model",
                )
            return next(iter(workers.values()))
        matches = [
            name
            for name, (src, tgt) in directions().items()
            if source in (None, "auto", src) and target in (None, tgt)
        ]
        if len(matches) != 1:
            pairs = ", ".join(f"{src}-{tgt}" for src, tgt in directions().values())
            wanted = f"{source or 'auto'} to {target or 'any'}"
            why = "no model translates" if not matches else "several models translate"
            raise ApiError(400, f"{why} {wanted[:100]!r}; this server has {pairs}", "unknown_model")
        return workers[matches[0]]

    async def run(
        request: Request, worker: ModelWorker, lines: list[str], options: SearchOptions
    ) -> list[list[Translation]]:
        request.state.log.update(model=worker.name, lines=len(lines), chars=sum(map(len, lines)))
        try:
            results, info = await worker.translate(lines, options, limits.timeout)
        except QueueFull as error:
            raise busy(
                f"too busy: {error}; retry in {limits.retry_after} s", "queue_full"
            ) from None
        except ModelUnavailable as error:
            raise busy(str(error), "unavailable") from None
        except asyncio.TimeoutError:
            raise busy(
                f"the translation took longer than this server's limit of {limits.timeout:g} s",
                "timeout",
            ) from None
        except DecodingFailed as error:
            raise ApiError(500, f"decoding failed: {error}", "decoding") from None
        _log_batch(request, info)
        return results

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health", responses=_error_doc(503))
    async def health() -> Response:
        """200 once every model is loaded; 503 before (or when one failed to load)."""
        states = {name: worker.state for name, worker in workers.items()}
        if all(state == "ready" for state in states.values()):
            return JSONResponse({"status": "ready", "models": states})
        headers = {"Retry-After": str(limits.retry_after)}
        return JSONResponse({"status": "not ready", "models": states}, 503, headers)

    @app.get("/models")
    async def models() -> dict[str, object]:
        """The models (name, state, languages, default beam) and this server's limits."""
        listed = []
        for name, worker in workers.items():
            entry: dict[str, object] = {"name": name, "state": worker.state}
            if worker.translator is not None:
                config = worker.translator.config
                entry.update(
                    source=config.data.src_lang,
                    target=config.data.tgt_lang,
                    beam_size=config.decoding.beam_size,
                )
            if worker.error is not None:
                entry["error"] = worker.error
            listed.append(entry)
        return {"models": listed, "limits": vars(limits) | {"api_key": api_key is not None}}

    @app.get("/languages", responses=_error_doc(503))
    async def languages() -> list[dict[str, object]]:
        """LibreTranslate's shape: each source language with the targets it translates into."""
        targets: dict[str, list[str]] = {}
        for src, tgt in directions().values():
            targets.setdefault(src, []).append(tgt)
        return [
            {"code": src, "name": LANGUAGE_NAMES.get(src, src), "targets": sorted(tgts)}
            for src, tgts in sorted(targets.items())
        ]

    @app.post(
        "/translate",
        openapi_extra=_body_doc(),
        responses={
            200: {"model": TranslateResponse | LibreTranslateResponse},
            **_error_doc(400, 401, 403, 413, 415, 422, 500, 503),
        },
    )
    async def translate(request: Request) -> Response:
        """Our shape (``text``) or LibreTranslate's (``q``, ``source``, ``target``)."""
        try:
            body = await read_body(request, limits)
        except ApiError:
            authorize(request)  # an unauthorized client learns nothing about its body
            raise
        authorize(request, body.pop("api_key", None) if "text" in body else body.get("api_key"))
        if "q" in body and "text" not in body:
            return await libretranslate(request, parse(LibreTranslateRequest, body))
        return await translate_text(request, parse(TranslateRequest, body))

    async def translate_text(request: Request, query: TranslateRequest) -> Response:
        worker = choose(query.model, query.source, query.target)
        lines = [query.text] if isinstance(query.text, str) else query.text
        check_lines(lines, limits, "text")
        translator = ready(worker)
        options = search_options(
            query.beam_size, query.n_best, translator.config.decoding.beam_size, limits
        )
        results = await run(request, worker, lines, options)
        translations = [
            _translation_out(
                n_best, translator, query.alignments, query.attention, query.n_best > 1
            )
            for n_best in results
        ]
        return _json(TranslateResponse(model=worker.name, translations=translations))

    async def libretranslate(request: Request, query: LibreTranslateRequest) -> Response:
        if query.format != "text":
            raise ApiError(400, f"format {query.format!r} is not supported: send 'text'", "invalid")
        worker = choose(None, query.source, query.target)
        lines = [query.q] if isinstance(query.q, str) else query.q
        check_lines(lines, limits, "q")
        if not 0 <= query.alternatives < limits.max_beam_size:
            raise ApiError(
                422,
                f"alternatives must be between 0 and {limits.max_beam_size - 1}, "
                f"got {query.alternatives}",
                "invalid",
            )
        default_beam = ready(worker).config.decoding.beam_size
        options = search_options(None, query.alternatives + 1, default_beam, limits)
        results = await run(request, worker, lines, options)
        texts = [n_best[0].text for n_best in results]
        others = [[t.text for t in n_best[1:]] for n_best in results]
        single = isinstance(query.q, str)
        answer = LibreTranslateResponse(
            translatedText=texts[0] if single else texts,
            alternatives=(others[0] if single else others) if query.alternatives else None,
        )
        return _json(answer)

    @app.get("/metrics", response_class=Response)
    async def prometheus(request: Request) -> Response:
        """Prometheus text format: requests, errors, latency, batch sizes, queue depth."""
        authorize(request)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


def _translation_out(
    n_best: list[Translation], translator: Translator, alignments: bool, attention: bool, many: bool
) -> TranslationOut:
    best = n_best[0]
    out = TranslationOut(text=best.text, score=finite(best.score))
    if many:
        out.n_best = [Hypothesis(text=t.text, score=finite(t.score)) for t in n_best]
    if alignments or attention:
        out.src_pieces = best.src_pieces
        out.tgt_pieces = translator.tokenizer.tgt_id_pieces(best.tokens)
    if alignments:
        out.alignment = best.alignment
    if attention:
        out.attention = [[round(weight, 4) for weight in row] for row in best.attention.tolist()]
    return out


def _json(answer: BaseModel) -> Response:
    """Pydantic's JSON: a NaN or infinite number (attention of a diverged model) becomes null."""
    return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")


def _log_batch(request: Request, info: BatchInfo) -> None:
    request.state.log.update(
        batch_requests=info.requests, batch_lines=info.lines, decode_ms=f"{1000 * info.seconds:.1f}"
    )
