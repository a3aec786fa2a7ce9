"""`nmt serve`: models behind an HTTP API and a web page (nmt.serve; FastAPI and uvicorn from the
optional ``serve`` extra)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from pathlib import PurePath

from nmt.cli.common import Command
from nmt.config import TRANSLATION_PRECISIONS
from nmt.errors import NMTError

COMMANDS: list[Command] = []

_SERVE_EPILOG = """\
endpoints:
  POST /translate   {"text": "Hello." | ["Hello.", ...], "model"?, "beam_size"?, "n_best"?,
                    "alignments"?, "attention"?} -> {"model", "translations": [{"text", "score"}]};
                    or LibreTranslate's {"q", "source", "target", "format": "text"} ->
                    {"translatedText"}
  GET /languages    LibreTranslate's list; GET /models: models and limits; GET /health: 200 once
                    every model is loaded, 503 before; GET /metrics: Prometheus; GET /docs: OpenAPI
  GET /             a web page: translate, and see the attention of each line

requests decoded together:
  each model has one decoding thread; it takes every request waiting (up to --max-batch-pieces
  source pieces), translates their lines together (sorted by length) and answers each request.

API key:
  with --api-key (or NMT_API_KEY), every client must send it (header 'Authorization: Bearer KEY'
  or 'X-API-Key: KEY', or LibreTranslate's api_key field) to /translate and /metrics, loopback
  clients included (a reverse proxy makes every client loopback). Without one, serving beyond
  loopback logs a warning.

SIGTERM or Ctrl-C: stop accepting, answer the requests in flight, then exit.
"""


def _add_serve(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _SERVE_EPILOG
    parser.add_argument(
        "-m",
        "--model",
        dest="models",
        action="append",
        required=True,
        metavar="[NAME=]MODEL_DIR",
        help="a model directory (or Hub repo id), named NAME or after its last path part "
        "(repeatable)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: loopback)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("NMT_API_KEY") or None,
        help="key every client must send (default: $NMT_API_KEY, better than this option, which "
        "other users can see in the process list; none: open)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-lines", type=int, default=100, help="lines per request (default: 100)"
    )
    limits.add_argument(
        "--max-line-chars", type=int, default=2000, help="characters per line (default: 2000)"
    )
    limits.add_argument(
        "--max-request-chars",
        type=int,
        default=20000,
        help="characters per request (default: 20000)",
    )
    limits.add_argument(
        "--max-beam-size",
        type=int,
        default=10,
        help="largest beam_size a request may ask (default: 10)",
    )
    limits.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds a request may wait and decode (default: 30)",
    )
    limits.add_argument(
        "--max-queue",
        type=int,
        default=64,
        help="requests waiting per model; more are answered 503 with Retry-After (default: 64)",
    )
    batching = parser.add_argument_group("batching")
    batching.add_argument(
        "--max-batch-pieces",
        type=int,
        default=4096,
        metavar="N",
        help="source pieces taken from the queue into one decoding call (default: 4096)",
    )
    batching.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="sentences per search batch (default: the model's)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--precision",
        choices=TRANSLATION_PRECISIONS,
        default="fp32",
        help="weights (default: fp32)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="(default: info)",
    )


def _model_names(specs: list[str]) -> dict[str, str]:
    """NAME -> directory for each ``[NAME=]DIR``; a name is given once."""
    named: dict[str, str] = {}
    for spec in specs:
        name, equals, directory = spec.partition("=")
        if not equals:
            name, directory = PurePath(spec.rstrip("/")).name or spec, spec
        if not name or not directory:
            raise NMTError(f"-m {spec}: expected MODEL_DIR or NAME=MODEL_DIR")
        if name in named:
            raise NMTError(
                f"two models are named {name!r} ({named[name]} and {directory}): name them with "
                "-m NAME=MODEL_DIR"
            )
        named[name] = directory
    return named


def _check_positive(args: argparse.Namespace) -> None:
    for option in ("max_lines", "max_line_chars", "max_request_chars", "max_beam_size", "max_queue",
                   "max_batch_pieces", "timeout"):  # fmt: skip
        if getattr(args, option) <= 0:
            raise NMTError(
                f"--{option.replace('_', '-')} must be positive, got {getattr(args, option)}"
            )
    if args.batch_size is not None and args.batch_size < 1:
        raise NMTError(f"--batch-size must be at least 1, got {args.batch_size}")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from nmt.serve.api import Limits
        from nmt.serve.app import create_app
        from nmt.serve.batcher import Batching
    except ImportError as error:
        raise NMTError(
            f"nmt serve needs the serve extra ({error.name} is missing): pip install 'nmt[serve]'"
        ) from None
    from nmt.allocator import keep_freed_memory
    from nmt.translator import Translator

    _check_positive(args)
    named = _model_names(args.models)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log = logging.getLogger("nmt.serve")
    if args.api_key is None and not _is_loopback(args.host):
        log.warning(
            "serving on %s without an API key: anyone who reaches it can translate", args.host
        )

    keep_freed_memory()

    def loader(directory: str):
        return lambda: Translator.from_pretrained(
            directory, device=args.device, threads=args.threads, precision=args.precision
        )

    failures: list[str] = []
    server: uvicorn.Server | None = None

    def on_failure(name: str, error: BaseException) -> None:
        failures.append(f"model {name} ({named[name]}): {error}")
        if server is not None:
            server.should_exit = True

    limits = Limits(
        max_lines=args.max_lines,
        max_line_chars=args.max_line_chars,
        max_request_chars=args.max_request_chars,
        max_beam_size=args.max_beam_size,
        timeout=args.timeout,
    )
    batching = Batching(args.max_queue, args.max_batch_pieces, args.batch_size)
    app = create_app(
        {name: loader(directory) for name, directory in named.items()},
        limits,
        batching,
        args.api_key,
        on_failure,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,  # our logging.basicConfig above
        access_log=False,  # the app logs each request with its size, batch and latency
        timeout_graceful_shutdown=int(args.timeout) + 5,  # requests in flight end by then
    )
    server = uvicorn.Server(config)
    server.run()
    if failures:
        raise NMTError("; ".join(failures))
    return 0 if server.started else 2


COMMANDS.append(
    (
        "serve",
        "Serve models over HTTP: a JSON API, LibreTranslate's API, and a web page.",
        _add_serve,
        _run_serve,
    )
)
