"""`nmt serve` as a real subprocess on a free loopback port, with the tiny model of conftest.py:
translations identical to the Translator's, LibreTranslate's shape, every error case, concurrent
clients, batching across requests, a full queue, timeouts, a failing batch, the API key, health
before and after loading, SIGTERM with requests in flight, and the web page in headless Chromium.

Moments mid-load and mid-decode are caught with tests/serve_gates.py, which runs the same command
with gates the test holds open through files.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

for _module in ("fastapi", "uvicorn", "prometheus_client"):
    pytest.importorskip(_module, reason=f"nmt serve needs {_module}: pip install -e '.[serve]'")

from nmt.translator import Translator  # noqa: E402

DATA_DIR = Path(os.environ.get("NMT_DATA_DIR", "/work/shared/data/en-es"))
REPO = Path(__file__).resolve().parents[1]
GATES_SCRIPT = REPO / "tests" / "serve_gates.py"
START_TIMEOUT = 180  # seconds for a server to import torch and load the model on a busy machine
LIMITS = ["--max-lines", "40", "--max-line-chars", "300", "--max-request-chars", "2000"]
LIMITS += ["--max-beam-size", "5", "--threads", "1"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> object:
        return json.loads(self.body)


class Server:
    """A running `nmt serve` and its log file."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log
        self.gates: Path | None = None  # the folder of tests/serve_gates.py's files, if any

    def call(
        self,
        path: str,
        body: object = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> Reply:
        """One request on its own connection; ``body`` is sent as JSON, ``raw`` as it is."""
        if body is not None:
            raw = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(
                method or ("GET" if raw is None else "POST"), path, raw, headers or {}
            )
            response = connection.getresponse()
            return Reply(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    def translate(self, lines: list[str] | str, **options: object) -> list[str]:
        reply = self.call("/translate", {"text": lines, **options})
        assert reply.status == 200, reply.body
        return [t["text"] for t in reply.json["translations"]]

    def metric(self, name: str) -> float:
        text = self.call("/metrics").body.decode()
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    model_dir: Path, work: Path, *options: str, gates: Path | None = None, env: dict | None = None
) -> Server:
    """Start `nmt serve` (through the gates script when ``gates`` is given) and wait until it
    answers HTTP, not until the model is loaded."""
    port = free_port()
    command = [sys.executable] + ([str(GATES_SCRIPT)] if gates else ["-m", "nmt"])
    command += ["serve", "-m", f"tiny={model_dir}", "--port", str(port), *LIMITS, *options]
    environment = {**os.environ, **(env or {})}
    # this checkout's nmt, whatever the current directory and whichever nmt is installed
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [environment.get("PYTHONPATH")])]
    )
    if gates is not None:
        environment["NMT_TEST_GATES"] = str(gates)
    log = work / f"server-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=environment)
    server = Server(process, port, log)
    server.gates = gates
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        try:
            server.call("/health")
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"the server did not answer in {START_TIMEOUT} s:\n{log.read_text()}")


def wait_until(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_ready(server: Server) -> Server:
    wait_until(lambda: server.call("/health").status == 200, "the model to load")
    return server


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tiny_model_dir, tmp_path_factory.mktemp("serve"))
    try:
        yield wait_ready(running)
    finally:
        running.stop()


@pytest.fixture(scope="module")
def translator(tiny_model_dir: Path) -> Iterator[Translator]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Translator.from_pretrained(tiny_model_dir)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sentences(tiny_model_dir: Path) -> list[str]:
    """English lines the tiny model was not trained on."""
    return (DATA_DIR / "tatoeba" / "dev.en").read_text(encoding="utf-8").splitlines()[300:340]


def in_threads(calls: list) -> list:
    """Run each zero-argument callable in its own thread at once; their results in order."""
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    return results


def test_translations_and_scores_equal_the_translators(
    server: Server, translator: Translator, sentences: list[str]
) -> None:
    lines = [*sentences[:12], "", "   ", sentences[12]]
    reply = server.call("/translate", {"text": lines})
    assert reply.status == 200
    expected = translator.translate_hypotheses(lines)
    got = reply.json["translations"]
    assert [t["text"] for t in got] == [n_best[0].text for n_best in expected]
    assert [t["score"] for t in got] == pytest.approx([n[0].score for n in expected], abs=1e-4)
    assert got[12] == {"text": "", "score": 0.0}
    assert reply.json["model"] == "tiny"
    single = server.call("/translate", {"text": sentences[0]}).json["translations"]
    assert [t["text"] for t in single] == translator.translate([sentences[0]])


def test_n_best_alignments_and_attention_match_the_translator(
    server: Server, translator: Translator, sentences: list[str]
) -> None:
    query = {"text": sentences[:3], "beam_size": 4, "n_best": 2, "alignments": True}
    reply = server.call("/translate", {**query, "attention": True})
    assert reply.status == 200
    expected = translator.translate_hypotheses(sentences[:3], beam_size=4, n_best=2)
    for got, n_best in zip(reply.json["translations"], expected, strict=True):
        assert [h["text"] for h in got["n_best"]] == [t.text for t in n_best]
        best = n_best[0]
        assert got["src_pieces"] == best.src_pieces
        assert got["tgt_pieces"] == translator.tokenizer.tgt_id_pieces(best.tokens)
        assert [tuple(pair) for pair in got["alignment"]] == best.alignment
        assert torch.tensor(got["attention"]) == pytest.approx(best.attention, abs=1e-4)


def test_libretranslate_shape_from_json_and_form_clients(
    server: Server, translator: Translator, sentences: list[str]
) -> None:
    expected = translator.translate(sentences[:2])
    one = server.call("/translate", {"q": sentences[0], "source": "en", "target": "es"})
    assert one.json == {"translatedText": expected[0]}
    many = server.call("/translate", {"q": sentences[:2], "source": "auto", "target": "es"})
    assert many.json == {"translatedText": expected}
    form = "q=" + sentences[0].replace(" ", "+") + "&source=en&target=es&format=text"
    reply = server.call(
        "/translate",
        raw=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.json == {"translatedText": expected[0]}
    alternatives = server.call("/translate", {"q": sentences[0], "target": "es", "alternatives": 2})
    n_best = translator.translate_hypotheses([sentences[0]], n_best=3)[0]
    assert alternatives.json == {
        "translatedText": n_best[0].text,
        "alternatives": [t.text for t in n_best[1:]],
    }
    languages = server.call("/languages").json
    assert languages == [{"code": "en", "name": "English", "targets": ["es"]}]


def test_models_health_metrics_page_and_openapi_docs(server: Server) -> None:
    models = server.call("/models").json
    assert [(m["state"], m["source"], m["target"]) for m in models["models"]] == [
        ("ready", "en", "es")
    ]
    assert models["limits"]["max_lines"] == 40
    assert server.call("/health").json["status"] == "ready"
    assert "/translate" in server.call("/openapi.json").json["paths"]
    assert server.call("/docs").status == 200
    assert b'id="source"' in server.call("/").body
    assert server.call("/static/app.js").status == 200
    server.translate("Hello.")
    metrics = server.call("/metrics").body.decode()
    for name in ("nmt_requests_total", "nmt_request_latency_seconds_bucket", "nmt_batch_lines_sum"):
        assert name in metrics


BAD_REQUESTS = [
    # (id, raw body, content type, status, part of the message)
    ("invalid-utf8", b'{"text": "caf\xe9"}', "application/json", 400, "not valid UTF-8: byte 0xe9"),
    ("malformed-json", b'{"text": "a",', "application/json", 400, "not valid JSON"),
    ("not-an-object", b'["a"]', "application/json", 400, "must be a JSON object, not an array"),
    (
        "text-wrong-type",
        b'{"text": 5}',
        "application/json",
        422,
        "text: must be a string or a list",
    ),
    ("line-wrong-type", b'{"text": ["a", null]}', "application/json", 422, "item 1 is null"),
    ("beam-wrong-type", b'{"text": "a", "beam_size": "3"}', None, 422, "beam_size: Input should"),
    ("unknown-field", b'{"text": "a", "beam": 3}', None, 422, "unknown field 'beam'"),
    ("missing-text", b"{}", None, 422, "text: a required field is missing"),
    ("beam-too-big", b'{"text": "a", "beam_size": 6}', None, 422, "between 1 and 5, got 6"),
    ("n-best-over-beam", b'{"text": "a", "beam_size": 2, "n_best": 3}', None, 422, "n_best must"),
    ("n-best-too-big", b'{"text": "a", "n_best": 6}', None, 422, "at most 5"),
    (
        "alternatives-too-many",
        b'{"q": "a", "target": "es", "alternatives": 9}',
        None,
        422,
        "between 0 and 4, got 9",
    ),
    ("lone-surrogate", b'{"text": ["a", "\\ud800"]}', None, 422, "text[1] holds a lone surrogate"),
    ("unknown-model", b'{"text": "a", "model": "fr-de"}', None, 400, "unknown model 'fr-de'"),
    ("unknown-language", b'{"q": "a", "source": "fr", "target": "es"}', None, 400, "fr to es"),
    ("html-format", b'{"q": "a", "target": "es", "format": "html"}', None, 400, "'html' is not"),
    ("too-many-lines", json.dumps({"text": ["a"] * 41}).encode(), None, 413, "41 lines"),
    ("line-too-long", json.dumps({"text": ["a" * 301]}).encode(), None, 413, "text[0] has 301"),
    ("request-too-long", json.dumps({"text": ["a" * 300] * 7}).encode(), None, 413, "2100"),
    ("body-too-big", b'{"text": "' + b"a" * 100_000 + b'"}', None, 413, "bytes"),
    ("wrong-content-type", b"<text>a</text>", "application/xml", 415, "application/xml"),
]


@pytest.mark.parametrize(
    "body, content_type, status, message",
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_are_4xx_json_errors_saying_what_was_wrong(
    server: Server, body: bytes, content_type: str | None, status: int, message: str
) -> None:
    headers = {"Content-Type": content_type or "application/json"}
    reply = server.call("/translate", raw=body, headers=headers)
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert message in reply.json["error"]


def test_unknown_endpoint_and_method_are_json_errors_and_the_worker_lives_on(
    server: Server, translator: Translator, sentences: list[str]
) -> None:
    assert server.call("/nope").status == 404
    assert "no such endpoint" in server.call("/nope").json["error"]
    assert server.call("/translate").json == {"error": "GET is not allowed on /translate"}
    for _, body, content_type, _, _ in BAD_REQUESTS:
        server.call("/translate", raw=body, headers={"Content-Type": content_type or ""})
    assert server.translate(sentences[:2]) == translator.translate(sentences[:2])
    assert server.metric('nmt_errors_total{kind="invalid"}') > 0


def test_concurrent_clients_each_get_their_own_translations(
    server: Server, translator: Translator, sentences: list[str]
) -> None:
    requests = [sentences[i : i + 1 + i % 4] for i in range(24)]
    expected = translator.translate(sentences[:28])
    answers = in_threads([lambda lines=lines: server.translate(lines) for lines in requests])
    for i, (lines, answer) in enumerate(zip(requests, answers, strict=True)):
        assert answer == expected[i : i + len(lines)]


def test_api_key_is_required_from_every_client_when_set(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    server = start_server(tiny_model_dir, tmp_path, env={"NMT_API_KEY": "s3cret"})
    try:
        wait_ready(server)
        assert server.call("/translate", {"text": "a"}).status == 401
        assert "needs an API key" in server.call("/translate", {"text": "a"}).json["error"]
        wrong = server.call("/translate", {"text": "a"}, headers={"X-API-Key": "guess"})
        assert (wrong.status, wrong.json) == (403, {"error": "the API key is not valid"})
        bearer = {"Authorization": "Bearer s3cret"}
        assert server.call("/translate", {"text": "a"}, headers=bearer).status == 200
        assert (
            server.call("/translate", {"text": "a"}, headers={"X-API-Key": "s3cret"}).status == 200
        )
        libre = {"q": "a", "target": "es", "api_key": "s3cret"}
        assert server.call("/translate", libre).status == 200
        assert server.call("/translate", raw=b"{bad", headers={}).status == 401
        assert server.call("/metrics").status == 401
        assert server.call("/health").status == 200
    finally:
        server.stop()


@pytest.fixture
def gates(tmp_path: Path) -> Path:
    folder = tmp_path / "gates"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def gated(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose decoding a test can hold; queue of 2, timeout of 5 s."""
    work = tmp_path_factory.mktemp("gated")
    running = start_server(tiny_model_dir, work, "--max-queue", "2", "--timeout", "5", gates=work)
    try:
        yield wait_ready(running)
    finally:
        release(running)
        running.stop()


def hold_decoding(server: Server) -> None:
    (server.gates / "decoding").unlink(missing_ok=True)
    (server.gates / "hold-decode").touch()


def wait_decoding(server: Server) -> None:
    wait_until(lambda: (server.gates / "decoding").exists(), "the held batch to start")


def release(server: Server) -> None:
    (server.gates / "hold-decode").unlink(missing_ok=True)


def queued(server: Server, count: int) -> None:
    wait_until(
        lambda: server.metric('nmt_queue_requests{model="tiny"}') == count, f"{count} queued"
    )


def test_requests_waiting_together_are_decoded_together_and_a_full_queue_is_503(
    gated: Server, translator: Translator, sentences: list[str]
) -> None:
    translations = translator.translate(sentences)
    distinct = {text: line for line, text in zip(sentences, translations, strict=True)}
    lines = list(distinct.values())[:2]  # a misrouted answer shows
    batches = gated.metric('nmt_batch_requests_count{model="tiny"}')
    requests = gated.metric('nmt_batch_requests_sum{model="tiny"}')
    hold_decoding(gated)
    held = threading.Thread(target=gated.translate, args=(["HOLD"],))
    held.start()
    wait_decoding(gated)
    waiting: list = []
    threads = [
        threading.Thread(target=lambda i=i: waiting.append((i, gated.translate(lines[i]))))
        for i in range(2)
    ]
    for thread in threads:
        thread.start()
    queued(gated, 2)
    refused = gated.call("/translate", {"text": "one too many"})
    release(gated)
    held.join(60)
    for thread in threads:
        thread.join(60)
    assert refused.status == 503
    assert refused.headers["retry-after"] == "1"
    assert "too busy: model 'tiny' has 2 requests waiting" in refused.json["error"]
    assert sorted(waiting) == [(i, translator.translate([lines[i]])) for i in range(2)]
    # two decoding calls: the held request alone, then the two that waited, together
    assert gated.metric('nmt_batch_requests_count{model="tiny"}') == batches + 2
    assert gated.metric('nmt_batch_requests_sum{model="tiny"}') == requests + 3


def test_a_request_past_the_timeout_is_503_and_the_worker_goes_on(gated: Server) -> None:
    hold_decoding(gated)
    try:
        reply = gated.call("/translate", {"text": "HOLD"})
    finally:
        release(gated)
    assert reply.status == 503
    assert reply.json == {"error": "the translation took longer than this server's limit of 5 s"}
    assert gated.translate("Hello.") != []


def test_a_decoding_error_fails_only_the_requests_decoded_with_it(
    gated: Server, translator: Translator, sentences: list[str]
) -> None:
    hold_decoding(gated)
    held = threading.Thread(target=gated.translate, args=(["HOLD"],))
    held.start()
    wait_decoding(gated)
    failing = {"text": ["RAISE"]}
    other = {"text": [sentences[0]], "beam_size": 2}  # other settings: decoded in its own call
    calls = [lambda: gated.call("/translate", failing), lambda: gated.call("/translate", other)]
    answers: list = []
    thread = threading.Thread(target=lambda: answers.extend(in_threads(calls)))
    thread.start()
    queued(gated, 2)
    release(gated)
    thread.join(60)
    held.join(60)
    broken, fine = answers
    assert broken.status == 500
    assert broken.json == {"error": "decoding failed: RuntimeError: injected failure"}
    assert fine.status == 200
    assert (
        fine.json["translations"][0]["text"] == translator.translate([sentences[0]], beam_size=2)[0]
    )
    assert gated.translate(sentences[1]) == translator.translate([sentences[1]])


def test_health_is_503_until_the_model_is_loaded(
    tiny_model_dir: Path, tmp_path: Path, gates: Path
) -> None:
    (gates / "hold-load").touch()
    server = start_server(tiny_model_dir, tmp_path, gates=gates)
    try:
        loading = server.call("/health")
        assert (loading.status, loading.json["status"]) == (503, "not ready")
        assert loading.headers["retry-after"] == "1"
        early = server.call("/translate", {"text": "Hello."})
        assert early.status == 503
        assert "not ready (loading)" in early.json["error"]
        assert server.call("/languages").status == 503
        (gates / "hold-load").unlink()
        wait_ready(server)
        assert server.call("/health").json == {"status": "ready", "models": {"tiny": "ready"}}
    finally:
        server.stop()


def test_sigterm_answers_the_requests_in_flight_then_exits(
    tiny_model_dir: Path, tmp_path: Path, gates: Path, translator: Translator, sentences: list[str]
) -> None:
    server = wait_ready(start_server(tiny_model_dir, tmp_path, gates=gates))
    try:
        hold_decoding(server)
        answers: dict = {}
        threads = [
            threading.Thread(target=lambda: answers.update(held=server.translate(["HOLD"]))),
            threading.Thread(target=lambda: answers.update(queued=server.translate(sentences[0]))),
        ]
        threads[0].start()
        wait_decoding(server)
        threads[1].start()
        queued(server, 1)
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: b"Shutting down" in server.log.read_bytes(), "the shutdown to begin")
        with pytest.raises(ConnectionRefusedError):
            server.call("/health")
        time.sleep(3)  # the requests stay in flight a while: the server must wait for them
        release(server)
        for thread in threads:
            thread.join(60)
        # uvicorn raises the signal again once it has shut down (older versions exit 0)
        assert server.process.wait(60) in (0, -signal.SIGTERM)
        assert answers["queued"] == translator.translate([sentences[0]])
        assert len(answers["held"]) == 1
        assert b"nmt.serve: stopped" in server.log.read_bytes()
    finally:
        release(server)
        server.stop()


def test_a_model_that_cannot_load_stops_the_server_with_its_error(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.yaml", "spm.model"):  # no model.pt
        shutil.copy(tiny_model_dir / name, broken / name)
    command = [sys.executable, "-m", "nmt", "serve", "-m", str(broken), "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT, cwd=REPO)
    assert done.returncode == 2
    assert f"nmt serve: error: model broken ({broken}): checkpoint not found" in done.stderr


def test_cli_refuses_two_models_of_the_same_name(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    from nmt.cli import main

    assert main(["serve", "-m", str(tiny_model_dir), "-m", str(tiny_model_dir)]) == 2
    assert "two models are named" in capsys.readouterr().err


def _browser() -> tuple[str, str]:
    """Chromium and chromedriver, or a skip saying what is missing."""
    pytest.importorskip("selenium", reason="the browser test needs selenium (the test extra)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no headless browser: apt-get install chromium chromium-driver (.ci/run does)")
    return chromium, driver


def test_web_page_translates_and_draws_the_attention_of_the_selected_line(
    server: Server, sentences: list[str], tmp_path: Path
) -> None:
    chromium, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.set_window_size(1200, 900)
        browser.get(f"http://127.0.0.1:{server.port}/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#direction option:enabled"))
        browser.find_element(By.ID, "source").send_keys(sentences[3])
        browser.find_element(By.ID, "translate").click()
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "table.heatmap"))
        shown = browser.find_element(By.CSS_SELECTOR, "#output .line").text
        browser.save_screenshot(str(tmp_path / "page.png"))
        api = server.call("/translate", {"text": [sentences[3]], "attention": True}).json
        best = api["translations"][0]
        assert shown == best["text"].strip()
        rows = browser.find_elements(By.CSS_SELECTOR, "table.heatmap tbody tr")
        assert len(rows) == len(best["tgt_pieces"])
        cells = rows[0].find_elements(By.CSS_SELECTOR, "td")
        assert len(cells) == len(best["src_pieces"])
        assert (tmp_path / "page.png").stat().st_size > 0
    finally:
        browser.quit()


def test_load_tool_checks_every_answer_under_random_hostile_load(
    server: Server, translator: Translator, sentences: list[str], tmp_path: Path
) -> None:
    """tools/load_test.py on a small count: all right against the true reference, and wrong
    answers found against a shifted one."""
    (tmp_path / "in.en").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    reference = translator.translate(sentences)
    (tmp_path / "ref.es").write_text("\n".join(reference) + "\n", encoding="utf-8")
    (tmp_path / "bad.es").write_text("\n".join(reference[1:] + ["x"]) + "\n", encoding="utf-8")
    tool = [sys.executable, str(REPO / "tools" / "load_test.py")]
    common = ["--url", f"http://127.0.0.1:{server.port}", "--input", str(tmp_path / "in.en")]
    run = [*tool, "random", *common, "--requests", "60", "--clients", "8", "--max-lines", "20"]
    good = subprocess.run([*run, "--reference", str(tmp_path / "ref.es")], capture_output=True)
    assert good.returncode == 0, good.stdout + good.stderr
    result = json.loads(good.stdout)
    assert (result["requests"], result["lost"], result["wrong"]) == (60, 0, 0)
    clients = [*tool, "clients", *common, "--requests", "20", "--clients", "1,4"]
    bad = subprocess.run([*clients, "--reference", str(tmp_path / "bad.es")], capture_output=True)
    assert bad.returncode == 1
    assert all(json.loads(line)["wrong"] > 0 for line in bad.stdout.splitlines())
