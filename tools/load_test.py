#!/usr/bin/env python
"""Load an `nmt serve` on this machine and check every answer: speed per client count, and no
request lost, duplicated or answered with another request's translation.

    nmt translate -m MODEL_DIR -i test.en -o reference.es          # the reference, from a file
    nmt serve -m MODEL_DIR &                                       # the server, defaults
    python tools/load_test.py clients --input test.en --reference reference.es --clients 1,8,32
    python tools/load_test.py random --input test.en --reference reference.es --requests 5000

``clients``: single-sentence requests (the file's lines in order) from N concurrent clients, each
on its own keep-alive connection: requests/s and p50/p95/p99 latency per N; each answer must equal
its line of the reference. ``random``: requests of 0 to ``--max-lines`` lines drawn from the file
and from hostile lines (empty, whitespace, control characters, NUL, bidi overrides, emoji, markup,
embedded newlines, lines at the server's length limit), plus a few deliberately invalid requests
that must get their 4xx; a file line must translate to its reference and a hostile line to the
same text every time. Both stop at ``--requests`` or ``--max-seconds``, whichever comes first, and
talk to loopback only. Exit status 1 when any answer is wrong or missing.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import random
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Outcome:
    """What happened to the requests of one run, gathered from all client threads."""

    latencies: list[float] = field(default_factory=list)
    answered: dict[int, int] = field(default_factory=dict)  # request id -> answers received
    wrong: list[str] = field(default_factory=list)  # a description of each wrong answer
    sentences: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    sent: int = 0  # request ids taken by the clients

    def record(self, request: int, seconds: float, lines: int, problem: str | None) -> None:
        """An answer (of any status) to ``request``, and what was wrong with it, if anything."""
        with self.lock:
            self.latencies.append(seconds)
            self.answered[request] = self.answered.get(request, 0) + 1
            self.sentences += lines
            if problem is not None:
                self.wrong.append(f"request {request}: {problem}")

    def unanswered(self, request: int, error: Exception) -> None:
        with self.lock:
            self.wrong.append(f"request {request}: no answer: {type(error).__name__}: {error}")


class Client:
    """One keep-alive connection; reconnects once when the server closed it between requests."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.headers = {"Content-Type": "application/json", **headers}
        self.connection = http.client.HTTPConnection(host, port, timeout=300)

    def post(self, body: dict) -> tuple[int, dict]:
        data = json.dumps(body).encode()
        for attempt in range(2):
            try:
                self.connection.request("POST", "/translate", data, self.headers)
                response = self.connection.getresponse()
                return response.status, json.loads(response.read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=300)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> dict:
        self.connection.request("GET", path, headers=self.headers)
        return json.loads(self.connection.getresponse().read())


def loopback_address(url: str) -> tuple[str, int]:
    """(host, port) of ``url``, refusing any host that is not this machine's loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"load_test: {url}: expected http://HOST:PORT")
    port = parts.port or 80
    for *_, address in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP):
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise SystemExit(
                f"load_test: {parts.hostname} is not loopback; this tool loads only loopback"
            )
    return parts.hostname, port


def read_pairs(source: Path, reference: Path) -> tuple[list[str], list[str]]:
    lines = source.read_text(encoding="utf-8").split("\n")
    expected = reference.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "" and expected[-1] == "":
        lines, expected = lines[:-1], expected[:-1]
    if len(lines) != len(expected):
        raise SystemExit(f"load_test: {source} has {len(lines)} lines, {reference} {len(expected)}")
    return lines, expected


def run_clients(
    count: int, work: Callable[[Client, int], None], outcome: Outcome, args: argparse.Namespace
) -> float:
    """``count`` threads, each with its own Client, calling ``work(client, request_id)`` for request
    ids 0, 1, ... until ``args.requests`` ids are taken or ``args.max_seconds`` pass; seconds.
    A request whose ``work`` raises is counted unanswered (lost)."""
    host, port = loopback_address(args.url)
    next_id, lock = iter(range(args.requests)), threading.Lock()
    deadline = time.monotonic() + args.max_seconds
    headers = {"X-API-Key": args.api_key} if args.api_key else {}

    def loop() -> None:
        client = Client(host, port, headers)
        while time.monotonic() < deadline:
            with lock:
                request = next(next_id, None)
                outcome.sent += request is not None
            if request is None:
                return
            try:
                work(client, request)
            except Exception as error:
                outcome.unanswered(request, error)
                client = Client(host, port, headers)

    start = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def summary(outcome: Outcome, seconds: float) -> dict:
    """The run's figures; ``lost`` counts requests sent but never answered, ``duplicated`` those
    answered twice (each is sent once)."""
    ms = [1000 * s for s in outcome.latencies]
    return {
        "requests": len(outcome.latencies),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(ms) / seconds, 2) if seconds else None,
        "sentences_per_s": round(outcome.sentences / seconds, 2) if seconds else None,
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
        "lost": outcome.sent - len(outcome.answered),
        "duplicated": sum(1 for n in outcome.answered.values() if n > 1),
        "wrong": len(outcome.wrong),
        "first_wrong": outcome.wrong[:5],
    }


def clients_mode(args: argparse.Namespace) -> list[dict]:
    lines, expected = read_pairs(args.input, args.reference)
    model = {"model": args.model} if args.model else {}
    results = []
    for count in args.clients:
        outcome = Outcome()

        def work(client: Client, request: int, outcome: Outcome = outcome) -> None:
            index = request % len(lines)
            start = time.perf_counter()
            status, answer = client.post({"text": [lines[index]], **model})
            seconds = time.perf_counter() - start
            problem = None
            if status != 200:
                problem = f"status {status}: {answer.get('error')}"
            elif [t["text"] for t in answer["translations"]] != [expected[index]]:
                problem = (
                    f"line {index}: got {answer['translations']!r}, expected {expected[index]!r}"
                )
            outcome.record(request, seconds, 1, problem)

        seconds = run_clients(count, work, outcome, args)
        results.append({"clients": count, **summary(outcome, seconds)})
        print(json.dumps(results[-1]), flush=True)
    return results


def hostile_lines(max_chars: int) -> list[str]:
    """Valid but nasty lines: every one must translate, and the same way every time."""
    long_words = ("Tom went home. " * max_chars)[: max_chars - 1]
    lines = [
        "", " ", "\t \t", "\u3000", "\ufeffA line with a BOM.", "\x00NUL\x01\x1f\x7f bytes",
        "a\nb\r\nc", "\u202eright-to-left override\u202c", "zero\u200bwidth\u200djoiners",
        "😀 🇪🇸 👩‍👩‍👧 emoji", "漢字とかなカナ", "e\u0301" * 60, "<script>alert(1)</script>",
        '{"text": ["not", "json"]}', "' OR 1=1; --", "." * 200, "?!" * 100,
        "x" * max_chars, long_words, "1234567890 " * 30,
    ]  # fmt: skip
    return [line[:max_chars] for line in lines]


def random_mode(args: argparse.Namespace) -> dict:
    lines, expected = read_pairs(args.input, args.reference)
    host, port = loopback_address(args.url)
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    limits = Client(host, port, headers).get("/models")["limits"]
    most = min(args.max_lines, limits["max_lines"])
    max_chars = min(limits["max_line_chars"], limits["max_request_chars"] // max(most, 1))
    hostile = hostile_lines(max_chars)
    seen: dict[str, str] = {}  # hostile line -> its first translation
    model = {"model": args.model} if args.model else {}
    outcome = Outcome()
    invalid_sent = [0]

    def draw(rng: random.Random) -> tuple[list[str], list[str | None]]:
        """Lines and, for each, its reference (None: a hostile line)."""
        chosen, references = [], []
        for _ in range(rng.randint(0, most)):
            if rng.random() < 0.15:
                chosen.append(rng.choice(hostile))
                references.append(None)
            else:
                index = rng.randrange(len(lines))
                chosen.append(lines[index])
                references.append(expected[index])
        while sum(map(len, chosen)) > limits["max_request_chars"]:  # long lines of the file
            chosen.pop()
            references.pop()
        return chosen, references

    def work(client: Client, request: int) -> None:
        rng = random.Random(args.seed * 1_000_003 + request)
        if rng.random() < 0.02:  # a request the server must refuse, without harm to the others
            with outcome.lock:
                invalid_sent[0] += 1
            body, allowed = {"text": ["fine", "\ud800"], **model}, (422,)
            if rng.random() < 0.5:
                body, allowed = {"text": ["y" * (limits["max_line_chars"] + 1)], **model}, (413,)
            start = time.perf_counter()
            status, answer = client.post(body)
            problem = None if status in allowed else f"invalid request got {status}: {answer}"
            outcome.record(request, time.perf_counter() - start, 0, problem)
            return
        chosen, references = draw(rng)
        start = time.perf_counter()
        status, answer = client.post({"text": chosen, **model})
        seconds = time.perf_counter() - start
        if status != 200:
            outcome.record(request, seconds, 0, f"status {status}: {answer.get('error')}")
            return
        texts = [t["text"] for t in answer["translations"]]
        problem = None
        if len(texts) != len(chosen):
            problem = f"{len(texts)} translations for {len(chosen)} lines"
        for line, text, reference in zip(chosen, texts, references, strict=False):
            if reference is None:
                with outcome.lock:
                    reference = seen.setdefault(line, text)
            if problem is None and text != reference:
                problem = f"{line[:40]!r} -> {text!r}, expected {reference!r}"
        outcome.record(request, seconds, len(chosen), problem)

    seconds = run_clients(args.clients[0], work, outcome, args)
    result = {"clients": args.clients[0], **summary(outcome, seconds)}
    result["invalid_requests_refused"] = invalid_sent[0]
    empty = seen.get("", "")
    if empty != "":
        result["wrong"] += 1
        result["first_wrong"].append(f"the empty line translated to {empty!r}")
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("clients", "random"))
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server (loopback)")
    parser.add_argument("--input", type=Path, required=True, help="source sentences, one a line")
    parser.add_argument(
        "--reference", type=Path, required=True, help="`nmt translate` output for --input"
    )
    parser.add_argument("--model", help="model name, when the server has several")
    parser.add_argument(
        "--clients",
        type=lambda text: [int(n) for n in text.split(",")],
        default=None,
        help="concurrent clients, comma-separated (default: 1,8,32; random: 16)",
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests per run at most")
    parser.add_argument("--max-seconds", type=float, default=300, help="seconds per run at most")
    parser.add_argument("--max-lines", type=int, default=50, help="random: lines per request")
    parser.add_argument("--seed", type=int, default=0, help="random: the draw")
    parser.add_argument("--api-key", help="the server's API key, if it has one")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.clients is None:
        args.clients = [1, 8, 32] if args.mode == "clients" else [16]
    results = clients_mode(args) if args.mode == "clients" else [random_mode(args)]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    bad = [r for r in results if r["wrong"] or r["lost"] or r["duplicated"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
