"""What a client may send and what it gets back: request bodies read and checked by hand, so that
every malformed one (bad UTF-8, bad JSON, wrong types, over a limit) is a 4xx naming the problem.

Two request shapes share ``POST /translate``: ours (``text``) and LibreTranslate's (``q``,
``source``, ``target``, ``format``), so LibreTranslate clients work unchanged. A body is JSON
(whatever the Content-Type says, if it starts with ``{`` or ``[``) or, as LibreTranslate also
accepts, ``application/x-www-form-urlencoded``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError
from starlette.requests import Request

from nmt.serve.batcher import SearchOptions


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; every limit is a ``nmt serve`` option."""

    max_lines: int = 100
    max_line_chars: int = 2000
    max_request_chars: int = 20000
    max_beam_size: int = 10
    timeout: float = 30.0  # seconds from arrival to answer, queueing included
    retry_after: int = 1  # seconds a refused client is told to wait

    @property
    def max_body_bytes(self) -> int:
        """Room for ``max_request_chars`` characters even when each is a JSON escape of an astral
        character (12 bytes), plus the rest of the body."""
        return 12 * self.max_request_chars + 65536


class ApiError(Exception):
    """An answer other than 200: its status, a message saying what was wrong, and a metric label."""

    def __init__(
        self, status: int, message: str, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers or {}


def _json_type(value: object) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), "a value")


def _lines(value: object) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise PydanticCustomError(
                    "lines",
                    "item {index} is {kind}, not a string",
                    dict(index=index, kind=_json_type(item)),
                )
        return value
    raise PydanticCustomError(
        "lines", "must be a string or a list of strings, not {kind}", dict(kind=_json_type(value))
    )


# One string or a list of strings, with one clear message when it is neither.
Lines = Annotated[str | list[str], PlainValidator(_lines, json_schema_input_type=str | list[str])]


class TranslateRequest(BaseModel):
    """Our shape. ``model`` names a model, or ``source`` and ``target`` choose one by languages
    (neither is needed when one model is served)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    text: Lines = Field(description="one line, or a list of lines translated in order")
    model: str | None = Field(None, description="a name from GET /models")
    source: str | None = Field(None, description="source language code, e.g. en")
    target: str | None = Field(None, description="target language code, e.g. es")
    beam_size: int | None = Field(None, description="beam width (default: the model's)")
    n_best: int = Field(1, description="translations per line, best first (at most beam_size)")
    alignments: bool = Field(
        False, description="add the most attended source piece per target piece"
    )
    attention: bool = Field(False, description="add the pieces and the attention matrix")


class LibreTranslateRequest(BaseModel):
    """LibreTranslate's shape (``format`` must be ``text``; ``source`` may be ``auto`` when one
    model translates into ``target``)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    q: Lines
    source: str = "auto"
    target: str
    format: Literal["text", "html"] = "text"
    alternatives: int = Field(0, strict=False)  # form bodies send it as a string
    api_key: str | None = None


class Hypothesis(BaseModel):
    text: str
    score: float | None = Field(description="log-probability / length penalty; null if not finite")


class TranslationOut(BaseModel):
    text: str
    score: float | None
    n_best: list[Hypothesis] | None = Field(None, description="with n_best > 1, best first")
    src_pieces: list[str] | None = None
    tgt_pieces: list[str] | None = None
    alignment: list[tuple[int, int]] | None = Field(None, description="(source, target) pairs")
    attention: list[list[float]] | None = Field(None, description="target pieces x source pieces")


class TranslateResponse(BaseModel):
    model: str
    translations: list[TranslationOut]


class LibreTranslateResponse(BaseModel):
    translatedText: str | list[str]  # noqa: N815 - LibreTranslate's name
    alternatives: list[str] | list[list[str]] | None = None


class ErrorResponse(BaseModel):
    error: str


async def read_body(request: Request, limits: Limits) -> dict[str, object]:
    """The body as a dict: JSON, or a form; 400/413/415 naming the problem otherwise."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limits.max_body_bytes:
            raise ApiError(
                413,
                f"the body is over this server's limit of {limits.max_body_bytes} bytes",
                "too_large",
            )
    text = _utf8(bytes(raw))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    looks_json = text.lstrip()[:1] in ("{", "[")  # curl -d sends JSON labelled as a form
    if content_type == "application/x-www-form-urlencoded" and not looks_json:
        return _form(text)
    if content_type not in (
        "",
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
    ):
        raise ApiError(
            415, f"Content-Type {content_type} is not accepted: send application/json", "bad_body"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ApiError(
            400,
            f"the body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
            "bad_body",
        ) from None
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON: nested too deeply", "bad_body") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"the body must be a JSON object, not {_json_type(value)}", "bad_body")
    return value


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            400,
            f"the body is not valid UTF-8: byte 0x{raw[error.start]:02x} at offset {error.start}",
            "bad_body",
        ) from None


def _form(text: str) -> dict[str, object]:
    try:
        fields = parse_qs(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as error:
        raise ApiError(
            400, f"the form is not valid UTF-8 once unquoted: {error.reason}", "bad_body"
        ) from None
    except ValueError as error:
        raise ApiError(400, f"the form is malformed: {error}", "bad_body") from None
    return {
        key: values if key == "q" and len(values) > 1 else values[-1]
        for key, values in fields.items()
    }


def parse(model: type[BaseModel], body: dict[str, object]) -> BaseModel:
    """``body`` as ``model``, or a 422 listing (up to five of) its problems by field."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = []
        for problem in error.errors()[:5]:
            where = ".".join(str(part) for part in problem["loc"]) or "body"
            if problem["type"] == "extra_forbidden":
                problems.append(f"unknown field {where!r}")
            elif problem["type"] == "missing":
                problems.append(f"{where}: a required field is missing")
            else:
                problems.append(f"{where}: {problem['msg']}")
        raise ApiError(422, "; ".join(problems), "invalid") from None


def check_lines(lines: list[str], limits: Limits, field: str) -> None:
    """413 over a size limit; 422 for a lone surrogate (JSON allows "\\ud800", Unicode does not)."""
    if len(lines) > limits.max_lines:
        raise ApiError(
            413,
            f"{field} has {len(lines)} lines; this server's limit is {limits.max_lines}",
            "too_large",
        )
    total = 0
    for index, line in enumerate(lines):
        if len(line) > limits.max_line_chars:
            raise ApiError(
                413,
                f"{field}[{index}] has {len(line)} characters; this server's limit per line is "
                f"{limits.max_line_chars}",
                "too_large",
            )
        total += len(line)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ApiError(
                422,
                f"{field}[{index}] holds a lone surrogate (U+{ord(line[error.start]):04X}) at "
                f"character {error.start}: send valid Unicode",
                "invalid",
            ) from None
    if total > limits.max_request_chars:
        raise ApiError(
            413,
            f"{field} has {total} characters; this server's limit per request is "
            f"{limits.max_request_chars}",
            "too_large",
        )


def search_options(
    beam_size: int | None, n_best: int, default_beam: int, limits: Limits
) -> SearchOptions:
    """Bounded search settings; a beam left unset is the model's, widened to hold ``n_best``."""
    if beam_size is not None and not 1 <= beam_size <= limits.max_beam_size:
        raise ApiError(
            422,
            f"beam_size must be between 1 and {limits.max_beam_size}, got {beam_size}",
            "invalid",
        )
    if n_best > limits.max_beam_size:
        raise ApiError(
            422,
            f"n_best must be at most {limits.max_beam_size} (it needs a beam that wide), got {n_best}",
            "invalid",
        )
    beam = max(default_beam, n_best) if beam_size is None else beam_size
    if not 1 <= n_best <= beam:
        raise ApiError(
            422, f"n_best must be between 1 and the beam size ({beam}), got {n_best}", "invalid"
        )
    return SearchOptions(beam_size=beam, n_best=n_best)


def finite(score: float) -> float | None:
    """JSON has no -inf: a line the model found no finite translation for scores null."""
    return score if math.isfinite(score) else None
