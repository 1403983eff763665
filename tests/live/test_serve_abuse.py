"""issue 12 items 1-5 replayed against a real ``leaksleuth serve`` on loopback (real HTTP; a little Python server
plays the 'secret' internal host). Every request loop is bounded (``wait_for`` has a timeout)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live.test_serve import JSON, TOKEN, _alert, _auth, _free_port, serving
from tests.support import loopback
from tests.support.prometheus_live import wait_for

SECRET = b"INTERNAL-SECRET: aws_key=AKIAEXAMPLEEXAMPLE"
DEFAULT_TEMPLATE = "http://{instance_host}:6060"


class _Secret(BaseHTTPRequestHandler):
    """An internal host that must never be reached through serve: every path answers the secret (HTTP 500), or a
    redirect to ``redirect`` when set. ``seen`` records each request's path and headers."""

    seen: list[tuple[str, dict[str, str]]]
    redirect = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers)))
        if self.redirect:
            self.send_response(302)
            self.send_header("Location", self.redirect + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(500)
        self.send_header("Content-Length", str(len(SECRET)))
        self.end_headers()
        self.wfile.write(SECRET)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def secret_host(address: str = "127.0.0.2", redirect: str = "") -> Iterator[tuple[str, int, list[Any]]]:
    """A _Secret server on ``address``: yields its host, port and the list of requests it saw."""
    seen: list[tuple[str, dict[str, str]]] = []
    with loopback.serving(type("Secret", (_Secret,), {"seen": seen, "redirect": redirect}), address=address) as url:
        yield address, int(url.rsplit(":", 1)[1]), seen


def _post(serve: str, payload: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{serve}/alerts", json=payload, headers={**_auth(), **headers}, timeout=10)


def _settled(serve: str, report_id: int) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(httpx.get(f"{serve}/reports/{report_id}", headers=_auth(), timeout=5).json())
        return found.get("status") != "capturing"

    wait_for(done, timeout=30, what=f"report {report_id} settled")
    return found


@pytest.mark.live
@pytest.mark.parametrize("instance", ["{host}:{port}/secret?", "{host}:{port}/x#", "u:pw@{host}:{port}/x?"])
def test_alert_labels_cannot_steer_serve_to_another_url(instance: str, tmp_path: Path) -> None:
    """item 1: '?' or '#' swallowed the template's ':6060' and '/' added a path; '@' sent Basic auth. The alert is
    now refused with the reason and nothing is fetched."""
    with secret_host() as (host, port, seen), serving(tmp_path, "--target-template", DEFAULT_TEMPLATE) as serve:
        labels = instance.format(host=host, port=port)
        receipt = _post(serve, _alert(labels)).json()
        assert receipt["accepted"] == [] and len(receipt["rejected"]) == 1, receipt
        assert "instance" in receipt["rejected"][0] and "not allowed in" in receipt["rejected"][0]
    assert seen == []


@pytest.mark.live
def test_serve_fetches_only_allowed_addresses_and_never_stores_bodies(tmp_path: Path) -> None:
    """item 1: the allow-lists (default: private ranges and loopback; --allow-cidr, --allow-port), no redirects to
    another origin, and a body the target answers never reaches the report: its status and length only."""
    with secret_host() as (host, port, seen), secret_host("127.0.0.3") as (other, other_port, elsewhere):
        args = ("--target-template", "http://{instance}", "--allow-cidr", "127.0.0.2/32", "--allow-port", str(port))
        with secret_host(redirect=f"http://{other}:{other_port}") as (_, hop_port, hops):
            args += ("--allow-port", str(hop_port))
            with serving(tmp_path, *args) as serve:
                first = _post(serve, _alert(f"{host}:{port}")).json()["accepted"][0]
                report = _settled(serve, first)
                text = json.dumps(report)
                assert "INTERNAL-SECRET" not in text, text
                assert f"HTTP 500 ({len(SECRET)} bytes)" in text, text
                loopback = _post(serve, _alert(f"127.0.0.1:{port}", starts="2026-11-27T11:00:00Z")).json()
                assert "not in --allow-cidr" in (_settled(serve, loopback["accepted"][0])["error"] or "")
                other_port_alert = _post(serve, _alert(f"{host}:{port + 1}", starts="2026-11-27T12:00:00Z")).json()
                assert "not in --allow-port" in (_settled(serve, other_port_alert["accepted"][0])["error"] or "")
                redirected = _post(serve, _alert(f"{host}:{hop_port}", starts="2026-11-27T13:00:00Z")).json()
                error = _settled(serve, redirected["accepted"][0])["error"] or ""
                assert "redirect to another origin" in error and "refused" in error, error
    assert seen and all(path.startswith("/debug/pprof/") for path, _ in seen)
    assert hops and elsewhere == []  # the redirect was not followed


@pytest.mark.live
def test_a_browser_page_cannot_post_alerts_to_a_no_auth_serve(tmp_path: Path) -> None:
    """item 2: with --no-auth on loopback a web page could POST text/plain (no preflight) to /alerts, or reach serve
    through a rebound DNS name. Now: application/json only, no Origin, and Host must be the listen address."""
    with secret_host() as (host, port, seen), serving(tmp_path, token=False) as serve:
        body = json.dumps(_alert(f"{host}:{port}"))
        plain = httpx.post(f"{serve}/alerts", content=body, headers={"Content-Type": "text/plain"}, timeout=5)
        assert plain.status_code == 415, plain.text
        form = httpx.post(f"{serve}/alerts", content=body, timeout=5)  # no Content-Type at all
        assert form.status_code == 415, form.text
        headers = {"Content-Type": "application/json", "Origin": "https://evil.example"}
        assert httpx.post(f"{serve}/alerts", content=body, headers=headers, timeout=5).status_code == 403
        rebound = {"Content-Type": "application/json", "Host": f"evil.example:{serve.rsplit(':', 1)[1]}"}
        assert httpx.post(f"{serve}/alerts", content=body, headers=rebound, timeout=5).status_code == 421
        assert httpx.get(f"{serve}/reports", headers={"Host": "evil.example"}, timeout=5).status_code == 421
        local = serve.replace("127.0.0.1", "localhost")
        assert httpx.get(f"{local}/reports", timeout=5).status_code == 200  # loopback names are this server
        ok = httpx.post(f"{serve}/alerts", content=body, headers={"Content-Type": "application/json"}, timeout=5)
        assert ok.status_code == 202 and len(ok.json()["accepted"]) == 1
    assert seen  # only the JSON request reached the target


class _Hanging(BaseHTTPRequestHandler):
    """A sick instance: each request waits ``HOLD`` seconds, then HTTP 500 (a capture of it stays running)."""

    HOLD = 4.0
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(self.HOLD)
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def hanging_hosts(count: int) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(loopback.serving(_Hanging)).removeprefix("http://") for _ in range(count)]


def _alerts(instances: list[str], starts: str = "2026-11-27T10:00:00Z") -> dict[str, Any]:
    payload = _alert(instances[0], starts=starts)
    template = payload["alerts"][0]
    payload["alerts"] = [
        {**template, "labels": {**template["labels"], "instance": i}, "fingerprint": f"fp-{n}"}
        for n, i in enumerate(instances)
    ]
    return payload


@pytest.mark.live
def test_intake_is_bounded(tmp_path: Path) -> None:
    """item 3: a 200 MB body was read whole (RSS 98 -> 724 MB) and 20,000 alerts blocked the loop 6.5 s. Now the
    body is refused past 1 MiB (413, by Content-Length or while it streams), more than --max-alerts alerts in one
    webhook are refused (413), and a full capture queue defers new targets (429 + Retry-After) while alerts about
    a target already queued join its capture."""
    with hanging_hosts(3) as hosts, serving(tmp_path, "--capture-queue", "2") as serve:
        big = json.dumps({"version": "4", "alerts": [], "pad": "x" * (3 << 20)}).encode()
        declared = httpx.post(f"{serve}/alerts", content=big, headers={**_auth(), **JSON}, timeout=10)
        assert declared.status_code == 413, declared.text

        def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
            for _ in range(200):
                yield b" " * (64 << 10)

        with contextlib.suppress(httpx.HTTPError):  # the server may close before the client finished writing
            streamed = httpx.post(f"{serve}/alerts", content=chunks(), headers={**_auth(), **JSON}, timeout=10)
            assert streamed.status_code == 413, streamed.text
        small = json.dumps(
            {"version": "4", "alerts": [{"labels": {"instance": "a:1"}}] * 20_000}, separators=(",", ":")
        )
        assert len(small) < 1 << 20  # under the body cap: the alert count is what is refused
        many = httpx.post(f"{serve}/alerts", content=small, headers={**_auth(), **JSON}, timeout=10)
        assert many.status_code == 413 and "20,000 alerts" in many.json()["error"]
        assert httpx.get(f"{serve}/healthz", timeout=5).status_code == 200
        full = _post(serve, _alerts(hosts))  # three targets, room for two
        assert full.status_code == 429 and full.headers["Retry-After"], full.text
        assert len(full.json()["accepted"]) == 2 and full.json()["deferred"] == 1
        same = _post(serve, _alerts([hosts[0]] * 50, starts="2026-11-27T11:00:00Z"))
        assert same.status_code == 202 and len(same.json()["accepted"]) == 50  # merged into the queued capture
        metrics = httpx.get(f"{serve}/metrics", headers=_auth(), timeout=5).text
        assert 'leaksleuth_alerts_total{outcome="deferred"} 1.0' in metrics


def _serve(tmp_path: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    args = ["--listen", f"127.0.0.1:{port}", "--token-file", str(token), "--target-template", "http://{instance}"]
    args += ["--samples", "3", "--every", "0.5s", "--timeout", "6", "--store", str(tmp_path / "s"), *extra]
    process = subprocess.Popen(
        [sys.executable, "-m", "leaksleuth", "serve", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, timeout=30, what="serve ready")
    return process


def _statuses(serve: str) -> list[str]:
    return [r["status"] for r in httpx.get(f"{serve}/reports", headers=_auth(), timeout=5).json()]


@pytest.mark.live
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_serve_leaves_no_capture_claimed_forever(stop: signal.Signals, tmp_path: Path) -> None:
    """item 3: after SIGTERM with a backlog, reports stayed `capturing` forever and the alerts sent again were
    dropped as duplicates. SIGTERM now drains (queued claims released, running ones given --drain-grace, then
    released); after kill -9 the next start fails this host's orphaned claims. Either way the re-sent alert is
    captured."""
    port = _free_port()
    serve = f"http://127.0.0.1:{port}"
    with hanging_hosts(6) as hosts:
        process = _serve(tmp_path, port, "--drain-grace", "1")
        try:
            first = _post(serve, _alerts(hosts))
            assert first.status_code == 202 and len(first.json()["accepted"]) == 6, first.text
            started = time.monotonic()
            os.kill(process.pid, stop)
            process.wait(timeout=30)
            stopped = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        if stop == signal.SIGTERM:  # drained: nothing left capturing before any restart
            from leaksleuth.store.db import open_store

            store = open_store(str(tmp_path / "s"))
            try:
                assert store.capturing_reports("alert") == []
                assert all("serve stopped" in (row.document.get("error") or "") for row in store.reports())
            finally:
                store.close()
        process = _serve(tmp_path, port)
        try:
            assert "capturing" not in _statuses(serve), _statuses(serve)
            again = _post(serve, _alerts(hosts))
            assert again.status_code == 202 and len(again.json()["accepted"]) == 6, again.text
        finally:
            process.terminate()
            process.wait(timeout=30)
    if stop == signal.SIGTERM:
        assert stopped < 15, stopped  # the grace period, not the captures' own 20 s


@pytest.mark.live
def test_malformed_requests_get_one_line_4xx(tmp_path: Path) -> None:
    """item 4: each of these was a 500 (or worse, stored): a report id past the database's integers
    (OverflowError), JSON 100,000 deep (RecursionError), annotations 700 deep (stored, then every GET of the report
    500d), ``instance: null`` (captured as http://None:6060), 50 MB of annotations (stored verbatim)."""
    with serving(tmp_path) as serve:
        huge_id = httpx.get(f"{serve}/reports/99999999999999999999999", headers=_auth(), timeout=5)
        assert huge_id.status_code == 404 and huge_id.json()["error"].startswith("no report"), huge_id.text
        deep = b'{"alerts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        nested = httpx.post(f"{serve}/alerts", content=deep, headers={**_auth(), **JSON}, timeout=10)
        assert nested.status_code == 400 and "nested too deep" in nested.json()["error"], nested.text

        def alert_with(**fields: Any) -> dict[str, Any]:
            payload = _alert("10.0.0.7:6060")
            payload["alerts"][0].update(fields)
            return payload

        deep_note: Any = "x"
        for _ in range(700):
            deep_note = {"a": deep_note}
        cases = [
            (alert_with(annotations={"summary": deep_note}), 400, "annotation 'summary' is a JSON object"),
            (alert_with(labels={"alertname": "X", "instance": None}), 400, "label 'instance' is null"),
            (alert_with(annotations={"description": "d" * 100_000}), 400, "more than 8,192"),
            (alert_with(annotations={"description": "d" * (50 << 20)}), 413, "more than the 1,048,576"),
        ]
        for payload, status, words in cases:
            answer = _post(serve, payload)
            assert answer.status_code == status and words in answer.json()["error"], answer.text
            assert "\n" not in answer.json()["error"]
        assert httpx.get(f"{serve}/reports", headers=_auth(), timeout=5).json() == []  # nothing was stored


@pytest.mark.live
def test_metrics_need_the_token_unless_told_otherwise(tmp_path: Path) -> None:
    """item 5: /metrics named every target URL to anyone; now it asks for the token (--no-metrics-auth opens it)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with serving(tmp_path / "a") as serve:
        assert httpx.get(f"{serve}/metrics", timeout=5).status_code == 401
        assert "leaksleuth_alerts" in httpx.get(f"{serve}/metrics", headers=_auth(), timeout=5).text
    with serving(tmp_path / "b", "--no-metrics-auth") as serve:
        assert "leaksleuth_alerts" in httpx.get(f"{serve}/metrics", timeout=5).text
        assert httpx.get(f"{serve}/reports", timeout=5).status_code == 401  # the rest still needs it
