"""The watch schedule with real processes: a real Go service beside a black hole keeps its rounds, and Ctrl-C on a
real ``leaksleuth watch`` stops at once. The rest of the schedule (busy targets, stop, targets coming and going,
retention) runs on a fake clock in tests/unit/app/test_watch_schedule.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaksleuth.app.watch import Watcher
from leaksleuth.app.watch_config import WatchConfig
from leaksleuth.collect.discovery import Discovery
from leaksleuth.collect.scrape_config import ScrapeConfig
from leaksleuth.model.report import Report
from leaksleuth.model.target import make_target
from tests.support.golive import build, running
from tests.support.hostile import black_hole, fleet_server


@pytest.fixture(scope="module")
def healthy(go: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Go service (an idle worker pool: healthy)."""
    binary = build(go, "goleaks", tmp_path_factory.mktemp("schedule"))
    with running([str(binary), "-mode", "worker-pool"]) as (_, address):
        yield f"http://{address}"


def _by_url(report: Report) -> dict[str, dict[str, object]]:
    return {t["target"]: t for t in report.to_json()["targets"]}


@pytest.mark.live
@pytest.mark.parametrize("accept", [False, True], ids=["never-accepted", "accepted-never-answered"])
def test_a_hung_target_delays_nobody_and_duration_ends_on_time(healthy: str, accept: bool) -> None:
    """Defaults: 10 s per request, 2 retries. A round used to wait for the hung target (~31 s): the healthy
    service got one snapshot in 20 s and --duration overran by as much."""
    with black_hole(accept=accept) as hole:
        watcher = Watcher(Discovery([make_target(healthy), make_target(hole)]), ScrapeConfig(), WatchConfig(0.5, 4.0))
        started = time.monotonic()
        targets = _by_url(asyncio.run(watcher.run()))
        elapsed = time.monotonic() - started
    assert elapsed < 4.0 + 2.0, elapsed
    assert targets[healthy]["status"] == "ok" and targets[healthy]["snapshots"] >= 6  # 8 rounds start in 4 s
    assert targets[hole]["status"] == "error" and "timed out after 0.5s" in str(targets[hole]["error"])


def _watch_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "leaksleuth", "watch", *args, "--no-store", "--quiet", "--interval", "0.3s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def _reaped(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _wait_for(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_ctrl_c_stops_at_once_and_writes_the_report(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    with fleet_server() as (url, fleet), black_hole(accept=True) as hole:
        quick = f"{url}/go126-1"
        process = _watch_process(quick, hole, "--report", str(report))
        with _reaped(process):
            _wait_for(lambda: len(fleet.paths("go126-1")) >= 12, "three scrapes of the quick target started")
            process.send_signal(signal.SIGINT)
            sent = time.monotonic()
            _, stderr = process.communicate(timeout=30)
            stopped = time.monotonic() - sent
    assert process.returncode == 0, stderr
    assert stopped < 3, stopped  # the hung scrape (30 s of retries left) is cancelled, not waited for
    targets = {t["target"]: t for t in json.loads(report.read_text())["targets"]}
    assert targets[quick]["snapshots"] >= 2


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    """The report goes to a FIFO nobody reads, so the first Ctrl-C's shutdown blocks writing it."""
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    with fleet_server() as (url, fleet):
        process = _watch_process(f"{url}/go126-1", "--report", str(fifo))
        with _reaped(process):
            _wait_for(lambda: len(fleet.paths("go126-1")) >= 4, "a round")
            process.send_signal(signal.SIGINT)
            time.sleep(1.0)
            assert process.poll() is None  # stuck opening the FIFO, as planned
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=10)
    assert process.returncode == 130, stderr
    assert "interrupted twice" in stderr
