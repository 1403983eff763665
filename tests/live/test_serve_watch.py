"""``serve --watch``: the always-on watch of real Go services, beside alert capture, in one process.

Verdict changes come out three ways (JSON lines on stdout, SSE on /events, gauges on /metrics), snapshots land in
the store, and the discovery options are watch's (a --targets-file here).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from leaksleuth.store.db import open_store
from tests.support.golive import GO_MODULE, marker_line, running
from tests.support.prometheus_live import wait_for
from tests.support.serve_live import AUTH, serving_watch

SOURCE = GO_MODULE / "goleaks" / "main.go"


def _sse(url: str, *, until: str, limit: int = 200, seconds: float = 60.0) -> list[dict[str, Any]]:
    """Events from /events until one named ``until`` (bounded in count and time)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    with httpx.stream("GET", f"{url}/events", headers=AUTH, timeout=seconds) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                event = json.loads(line[len("data: ") :])
                assert event["event"] == name
                events.append(event)
                if name == until or len(events) >= limit:
                    return events
            assert time.monotonic() < deadline, f"no {until!r} event within {seconds}s: {events}"
    return events


def test_serve_watch_emits_verdict_changes_three_ways(go: str, goleaks: Path, tmp_path: Path) -> None:
    leak_line = marker_line(SOURCE, "timeout-send")
    with (
        running([str(goleaks), "-mode", "timeout-send", "-every", "5ms"]) as (_, leaky),
        running([str(goleaks), "-mode", "worker-pool", "-every", "5ms"]) as (_, healthy),
    ):
        targets = tmp_path / "targets.txt"
        targets.write_text(f"http://{leaky} service=checkout\nhttp://{healthy} service=checkout\n")
        with serving_watch(tmp_path, "--targets-file", str(targets), "--interval", "1.5s", "--json-lines") as (
            url,
            process,
        ):
            assert httpx.get(f"{url}/events", timeout=5).status_code == 401  # the token guards the stream
            changes: list[dict[str, Any]] = []

            def healthy_judged() -> bool:  # the look-alike is "too early" until its 4th snapshot: a change we see
                changes.extend(e for e in _sse(url, until="round") if e["event"] == "verdict")
                return any(e["target"] == f"http://{healthy}" and e["verdict"] == "healthy" for e in changes)

            wait_for(healthy_judged, timeout=90, what="the healthy instance's verdict change on /events")
            change = next(e for e in changes if e["target"] == f"http://{healthy}" and e["verdict"] == "healthy")
            assert change["previous"] in ("too early", "error") and change["service"] == "checkout"
            wait_for(
                lambda: "leaking" in httpx.get(f"{url}/metrics", headers=AUTH, timeout=5).text,
                timeout=60,
                what="a leak",
            )
            metrics = httpx.get(f"{url}/metrics", headers=AUTH, timeout=5).text
            assert f'leaksleuth_target_verdict{{service="checkout",target="http://{leaky}",verdict="leaking"}} 1.0' in (
                metrics
            )
            assert f'leaksleuth_target_up{{service="checkout",target="http://{healthy}"}} 1.0' in metrics
            assert "leaksleuth_watch_rounds_total" in metrics
            assert "leaksleuth_alerts_total" in metrics or "leaksleuth_alerts_created" in metrics  # capture beside
        out, _ = process.communicate(timeout=20)
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines and all(line["event"] == "verdict" for line in lines)  # log shippers get changes, no heartbeats
    logged = [line for line in lines if line["target"] == f"http://{leaky}" and line["verdict"] == "leaking"]
    assert logged, lines
    assert logged[0]["file"].endswith("goleaks/main.go") and logged[0]["line"] == leak_line
    assert logged[0]["function"] == "main.timeoutSend.func1" and logged[0]["service"] == "checkout"
    for target in (leaky, healthy):
        verdicts = [line["verdict"] for line in lines if line["target"] == f"http://{target}"]
        assert all(a != b for a, b in itertools.pairwise(verdicts)), verdicts  # a line only when it changes
    assert "leaking" not in [line["verdict"] for line in lines if line["target"] == f"http://{healthy}"]

    store = open_store(str(tmp_path / "store"), create=False)
    try:
        assert {row.url for row in store.targets()} == {f"http://{leaky}", f"http://{healthy}"}
        assert len(store.snapshots(target=f"http://{leaky}", kind="goroutine")) >= 4
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:1"], "targets to watch need --watch"),
        (["--watch"], "no targets"),
        (["--watch", "--interval", "0s", "http://127.0.0.1:1"], "--interval must be longer than zero"),
    ],
)
def test_serve_watch_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    command = [sys.executable, "-m", "leaksleuth", "serve", "--no-auth", "--store", str(tmp_path / "s"), *args]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "s").exists()  # refused before the store was created
