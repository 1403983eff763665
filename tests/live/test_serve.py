"""leaksleuth serve: Alertmanager (real, from Debian) fires an alert, serve captures the instance and names the line."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from leaksleuth.app.capture import target_url
from leaksleuth.errors import ConfigError
from tests.conftest import CAPTURES, ROOT
from tests.support import loopback
from tests.support.golive import GO_MODULE, build, marker_line, running
from tests.support.hostile import GO_1_26
from tests.support.prometheus_live import running_alertmanager, wait_for

SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())
SOURCE = GO_MODULE / "goleaks" / "main.go"
TOKEN = "s3cret-token"
JSON = {"Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(tmp_path: Path, *extra: str, token: bool = True) -> Iterator[str]:
    port = _free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    auth = ["--token-file", str(token_file)] if token else ["--no-auth"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leaksleuth",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            *auth,
            "--target-template",
            "http://{instance}",
            "--samples",
            "3",
            "--every",
            "0.5s",
            "--store",
            str(tmp_path / "s"),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, timeout=30, what="serve ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _alert(instance: str, status: str = "firing", starts: str = "2026-11-27T10:00:00Z") -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "leaksleuth",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "GoroutineLeak", "instance": instance, "job": "goleaks"},
                "annotations": {},
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": f"fp-{instance}",
            }
        ],
    }


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _finished_report(url: str, timeout: float = 60) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        listing = httpx.get(f"{url}/reports", headers=_auth(), timeout=5).json()
        ready = [r for r in listing if r["status"] == "done"]
        if ready:
            found.update(httpx.get(f"{url}/reports/{ready[0]['id']}", headers=_auth(), timeout=5).json())
        return bool(ready)

    wait_for(done, timeout=timeout, what="a finished capture report")
    return found


@pytest.fixture(scope="module")
def leaking_service(go: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = build(go, "goleaks", tmp_path_factory.mktemp("goleaks-serve"))
    with running([str(binary), "-mode", "timeout-send"]) as (_, address):
        yield address


@pytest.mark.live
def test_alertmanager_alert_becomes_a_capture_naming_the_line(leaking_service: str, tmp_path: Path) -> None:
    with serving(tmp_path) as serve:
        config = {
            "route": {
                "receiver": "leaksleuth",
                "group_by": ["alertname", "instance"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "leaksleuth",
                    "webhook_configs": [
                        {
                            "url": f"{serve}/alerts",
                            "send_resolved": True,
                            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
                        }
                    ],
                }
            ],
        }
        with running_alertmanager(tmp_path / "am", config) as alertmanager:
            now = dt.datetime.now(dt.UTC).isoformat()
            fired = httpx.post(
                f"{alertmanager.url}/api/v2/alerts",
                timeout=5,
                json=[
                    {
                        "labels": {"alertname": "GoroutineLeak", "instance": leaking_service, "job": "goleaks"},
                        "annotations": {"summary": "goroutines growing"},
                        "startsAt": now,
                    }
                ],
            )
            assert fired.status_code == 200, fired.text
            found = _finished_report(serve)
    report = found["report"]
    jsonschema.validate(report, SCHEMA)
    assert report["alert"]["labels"]["alertname"] == "GoroutineLeak"
    target = report["targets"][0]
    assert target["status"] == "ok" and target["snapshots"] == 3
    top = target["suspects"][0]
    assert (Path(top["file"]), top["line"]) == (SOURCE, marker_line(SOURCE, "timeout-send"))
    assert top["confidence"] >= 0.8
    assert found["max_confidence"] == pytest.approx(top["confidence"])


@pytest.mark.live
def test_auth_dedupe_resolved_metrics(leaking_service: str, tmp_path: Path) -> None:
    with serving(tmp_path) as serve:
        assert httpx.post(f"{serve}/alerts", json=_alert(leaking_service), timeout=5).status_code == 401
        assert (
            httpx.post(
                f"{serve}/alerts", json=_alert(leaking_service), headers={"Authorization": "Bearer no"}, timeout=5
            ).status_code
            == 401
        )
        assert httpx.get(f"{serve}/reports", timeout=5).status_code == 401
        first = httpx.post(f"{serve}/alerts", json=_alert(leaking_service), headers=_auth(), timeout=5).json()
        again = httpx.post(f"{serve}/alerts", json=_alert(leaking_service), headers=_auth(), timeout=5).json()
        resolved = httpx.post(
            f"{serve}/alerts", json=_alert(leaking_service, "resolved"), headers=_auth(), timeout=5
        ).json()
        assert len(first["accepted"]) == 1 and again["duplicates"] == 1 and again["accepted"] == []
        assert resolved["resolved_ignored"] == 1 and resolved["accepted"] == []
        unmapped = dict(_alert(leaking_service))
        unmapped["alerts"] = [{**unmapped["alerts"][0], "labels": {"alertname": "X"}, "fingerprint": "other"}]
        assert (
            "no label instance"
            in httpx.post(f"{serve}/alerts", json=unmapped, headers=_auth(), timeout=5).json()["rejected"][0]
        )
        not_json = httpx.post(f"{serve}/alerts", content=b"{not json", headers={**_auth(), **JSON}, timeout=5)
        assert not_json.status_code == 400
        assert (
            httpx.post(f"{serve}/alerts", json={"version": "3", "alerts": []}, headers=_auth(), timeout=5).status_code
            == 400
        )
        _finished_report(serve)
        assert httpx.get(f"{serve}/metrics", timeout=5).status_code == 401  # it names every target
        metrics = httpx.get(f"{serve}/metrics", headers=_auth(), timeout=5).text
        assert (
            f'leaksleuth_leak_confidence{{category="chan-send",kind="goroutine",target="http://{leaking_service}"}}'
            in metrics
        )
        assert 'leaksleuth_alerts_total{outcome="duplicate"} 1.0' in metrics
        assert httpx.get(f"{serve}/reports/999", headers=_auth(), timeout=5).status_code == 404


def test_target_template() -> None:
    labels = {"instance": "10.0.0.7:8080", "namespace": "prod", "pod": "api-1"}
    assert target_url("http://{instance_host}:6060", labels) == "http://10.0.0.7:6060"
    assert target_url("http://{pod}.{namespace}:{instance_port}", labels) == "http://api-1.prod:8080"
    assert target_url("http://{instance_host}:6060", {"instance": "[::1]:9090"}) == "http://[::1]:6060"
    with pytest.raises(ConfigError, match="no label pod"):
        target_url("http://{pod}:6060", {"instance": "x:1"})


async def test_kubernetes_template_resolves_the_alerting_pod(kmock: Any, leaking_service: str, tmp_path: Path) -> None:
    """A container alert names namespace/pod, not a Go instance: the pod's IP and port come from the API."""
    from kubernetes import client

    from leaksleuth.app.capture import AlertService, CaptureConfig
    from leaksleuth.store.db import open_store

    host, port = leaking_service.rsplit(":", 1)
    kmock.objects[kmock.resource("v1/pods"), "prod", "checkout-7d9f"] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "checkout-7d9f",
            "namespace": "prod",
            "labels": {"app": "checkout"},
            "annotations": {"leaksleuth.io/port": port},
        },
        "status": {"phase": "Running", "podIP": host},
    }
    api = client.ApiClient(client.Configuration(host=str(kmock.url).rstrip("/")))
    store = open_store(str(tmp_path / "s"))
    service = AlertService(
        store, token=None, capture=CaptureConfig(template="kubernetes", samples=2, every=0.3, kubernetes_client=api)
    )
    payload = _alert("ignored")
    payload["alerts"][0]["labels"] = {
        "alertname": "ContainerMemoryLimitForecast",
        "namespace": "prod",
        "pod": "checkout-7d9f",
        "container": "app",
    }
    receipt = await service.receive(payload)
    assert len(receipt.accepted) == 1
    await service.drain()
    found = service.report(receipt.accepted[0])
    assert found is not None and found["target"] == f"http://{leaking_service}"
    top = found["report"]["targets"][0]["suspects"][0]
    assert (Path(top["file"]), top["line"]) == (SOURCE, marker_line(SOURCE, "timeout-send"))
    missing = _alert("ignored")
    missing["alerts"][0]["labels"] = {"alertname": "X"}
    missing["alerts"][0]["fingerprint"] = "other"
    assert "namespace and pod" in (await service.receive(missing)).rejected[0]
    store.close()


def _must_not_serve(*args: object, **kwargs: object) -> None:
    raise AssertionError("serve started listening with options it should have refused")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("http://{instance_host:6060", "unbalanced braces"),
        ("http://{instance_host}:6060}", "unbalanced braces"),
        ("http://{instance_host:6060}", "{instance_host:6060} has a format spec: close the brace before the ':'"),
        ("http://{instance.host}:6060", "{instance.host} is not a label name"),
        ("http://{}:6060", "{} needs a label name"),
        ("ftp://{instance}", "gives 'ftp://6060' for an example alert: a target must be an http(s) URL"),
        ("http://[{instance_host}:6060", "Invalid IPv6 URL"),
    ],
)
def test_serve_refuses_a_bad_target_template_at_startup(
    template: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from leaksleuth.cli import EXIT_USAGE
    from leaksleuth.cli.main import main

    monkeypatch.setattr("uvicorn.run", _must_not_serve)
    store = tmp_path / "store"
    args = ["serve", "--no-auth", "--listen", f"127.0.0.1:{_free_port()}", "--store", str(store)]
    assert main([*args, "--target-template", template]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"leaksleuth: error: --target-template {template!r}: ") and message in err, err
    assert "{instance_ip}" in err and "Traceback" not in err  # the hint lists the placeholders
    assert not store.exists()  # refused before the store opens


def test_serve_refuses_bad_capture_numbers_at_startup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from leaksleuth.cli import EXIT_USAGE
    from leaksleuth.cli.main import main

    monkeypatch.setattr("uvicorn.run", _must_not_serve)
    args = ["serve", "--no-auth", "--listen", f"127.0.0.1:{_free_port()}", "--store", str(tmp_path / "s")]
    assert main([*args, "--timeout", "0"]) == EXIT_USAGE
    assert main([*args, "--samples", "0"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--timeout must be a positive number of seconds, got 0" in err and "--samples must be at least 1" in err


def test_target_template_placeholders_and_accurate_errors() -> None:
    labels = {"instance": "10.0.0.7:8080", "job": "api"}
    assert target_url("http://{instance_ip}:6060", labels) == "http://10.0.0.7:6060"  # the example
    with pytest.raises(ConfigError) as unknown:
        target_url("http://{instance_addr}:6060", labels)
    text = str(unknown.value)
    assert text.startswith("alert has no label instance_addr for the target template"), text
    assert "no label instance " not in text and "{instance_ip}" in text  # instance is there: say what is missing
    with pytest.raises(ConfigError, match=r"instance 'api-1', without a port \(for \{instance_port\}\)"):
        target_url("http://{instance_host}:{instance_port}", {"instance": "api-1"})
    with pytest.raises(ConfigError, match=r"no label instance \(for \{instance_ip\}\)"):
        target_url("http://{instance_ip}:6060", {"job": "api"})
    with pytest.raises(ConfigError, match="unbalanced braces"):  # was a ValueError: an HTTP 500 per alert
        target_url("http://{instance_host:6060", labels)


def _document(*suspects: tuple[str, str, float]) -> dict[str, Any]:
    found = [{"kind": kind, "category": category, "confidence": confidence} for kind, category, confidence in suspects]
    return {"targets": [{"status": "ok", "suspects": found}]}


async def test_each_capture_replaces_its_targets_confidence_series(tmp_path: Path) -> None:
    from leaksleuth.app.capture import AlertService, CaptureConfig
    from leaksleuth.store.db import open_store

    store = open_store(str(tmp_path / "s"))
    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens: the capture fails
    service = AlertService(store, token=None, capture=CaptureConfig(template="{instance}", samples=1, timeout=1))

    def series() -> list[str]:
        text = service.metrics().decode()
        return sorted(
            line.split(" ")[0] for line in text.splitlines() if line.startswith("leaksleuth_leak_confidence{")
        )

    other = "http://10.0.0.9:6060"
    service.record_scores(other, _document(("heap", "growth", 0.5)))
    service.record_scores(dead, _document(("goroutine", "chan-send", 0.9), ("heap", "growth", 0.7)))
    service.record_scores(dead, _document(("goroutine", "chan-send", 0.8)))  # the heap suspect is gone
    assert series() == [
        f'leaksleuth_leak_confidence{{category="chan-send",kind="goroutine",target="{dead}"}}',
        f'leaksleuth_leak_confidence{{category="growth",kind="heap",target="{other}"}}',
    ]
    receipt = await service.receive(_alert(dead.removeprefix("http://")))
    assert len(receipt.accepted) == 1
    await service.drain()
    found = service.report(receipt.accepted[0])
    assert found is not None and found["status"] == "failed"
    # the failed capture leaves no old confidence behind for its target; other targets keep theirs
    assert series() == [f'leaksleuth_leak_confidence{{category="growth",kind="heap",target="{other}"}}']
    store.close()


def big_dump(size: int) -> bytes:
    """A debug=2 dump of at most ``size`` bytes (the runtime caps one at 64 MiB): goroutines parked on a channel
    under a deep call chain, in 64 distinct stacks, numbered like the runtime numbers them."""
    frames = "".join(
        f"main.level{depth}(0xc000{depth:06x}, 0x{depth:x})\n\t/src/app/deep.go:{100 + depth} +0x{depth * 16:x}\n"
        for depth in range(24)
    )
    blocks = []
    written, number = 0, 0
    while True:
        number += 1
        block = (
            f"goroutine {number + 100} [chan receive, {number % 90} minutes]:\nruntime.gopark(0x0?, 0x0?, 0x0?)\n"
            f"\t/usr/local/go/src/runtime/proc.go:435 +0xce\nmain.handler{number % 64}(0xc0001{number:08x})\n"
            f"\t/src/app/main.go:{200 + number % 64} +0x4d\n{frames}created by main.serve in goroutine 1\n"
            "\t/src/app/main.go:30 +0x55\n\n"
        ).encode()
        if written + len(block) > size:
            return b"".join(blocks)
        blocks.append(block)
        written += len(block)


class _DumpTarget(BaseHTTPRequestHandler):
    """A Go service as pprof serves it (real captures), except that its debug=2 dump is ``DUMP``."""

    DUMP = b""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/debug/pprof/goroutineleak?debug=2":
            body = self.DUMP
        elif (file := GO_1_26.get(self.path.replace("heap?gc=1", "heap"))) is not None:
            body = (CAPTURES / file).read_bytes()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_serve_answers_while_a_64_mib_dump_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An alert's capture fetches a 64 MiB debug=2 dump; while it is parsed, GET /healthz (real HTTP, loopback) is
    answered. Parsing on the event loop answered it only once the parse was over."""
    import uvicorn

    from leaksleuth.app.capture import AlertService, CaptureConfig
    from leaksleuth.collect import scraper
    from leaksleuth.store.db import open_store
    from leaksleuth.web.app import create_app

    _DumpTarget.DUMP = big_dump(64 << 20)
    parsing, parsed = threading.Event(), threading.Event()
    parse = scraper.parse

    def watched(data: bytes, **options: Any) -> Any:  # the real parse, and when the big one starts and ends
        big = len(data) > 32 << 20
        if big:
            parsing.set()
        try:
            return parse(data, **options)
        finally:
            if big:
                parsed.set()

    monkeypatch.setattr(scraper, "parse", watched)
    store = open_store(str(tmp_path / "s"))
    service = AlertService(store, token=None, capture=CaptureConfig(template="{instance}", samples=1, timeout=60))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    url = f"http://127.0.0.1:{port}"
    with loopback.serving(_DumpTarget) as target:
        thread.start()
        try:
            wait_for(lambda: server.started, timeout=30, what="serve started")
            accepted = httpx.post(f"{url}/alerts", json=_alert(target.removeprefix("http://")), timeout=10)
            assert accepted.status_code == 202 and accepted.json()["accepted"], accepted.text
            assert parsing.wait(timeout=120), "the capture never parsed the dump"
            answer = httpx.get(f"{url}/healthz", timeout=120)
            answered_while_parsing = not parsed.is_set()
            assert answer.status_code == 200 and answer.json() == {"status": "ok"}
            assert answered_while_parsing, "GET /healthz waited for the 64 MiB dump to be parsed"
            assert parsed.wait(timeout=120)
            wait_for(
                lambda: httpx.get(f"{url}/reports", timeout=10).json()[0]["status"] != "capturing",
                timeout=120,
                what="the capture's report",
            )
            report = httpx.get(f"{url}/reports", timeout=10).json()[0]
            assert report["status"] == "done", report  # the dump was analysed, not given up on
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            store.close()
