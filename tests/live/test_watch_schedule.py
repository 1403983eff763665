"""The watch schedule: rounds start on time whatever one target does, stop means now, targets come and go, and the
store is pruned at start, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaksleuth.app.watch import RoundSummary, WatchConfig, Watcher
from leaksleuth.collect.discovery import Discovery
from leaksleuth.collect.scraper import ScrapeConfig
from leaksleuth.model.report import Report
from leaksleuth.model.target import Target, make_target
from leaksleuth.store.db import NewSnapshot, open_store
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


def test_a_target_still_busy_skips_rounds_and_says_so() -> None:
    """A target slower than the interval (four requests of 0.3 s) misses rounds; the others keep every round."""
    busy_rounds: list[list[str]] = []
    with fleet_server() as (url, _):
        slow, quick = f"{url}/slow-1", f"{url}/go126-1"
        watcher = Watcher(
            Discovery([make_target(slow), make_target(quick)]),
            ScrapeConfig(timeout=5, retries=0),
            WatchConfig(interval=0.4, max_rounds=6, scrape_deadline=5.0),
            on_round=lambda summary: busy_rounds.append(summary.busy),
        )
        targets = _by_url(asyncio.run(watcher.run()))
    assert targets[quick]["snapshots"] >= 5  # (the very first parse can be slow: imports)
    assert targets[slow]["status"] == "ok"
    missed = targets[slow]["missed_rounds"]
    assert isinstance(missed, int) and missed >= 2 and targets[slow]["snapshots"] + missed == 6
    assert sum(slow in busy for busy in busy_rounds) == missed


def test_stop_cancels_scrapes_in_flight_and_reports_what_completed() -> None:
    with fleet_server() as (url, _), black_hole(accept=True) as hole:
        quick = f"{url}/go126-1"
        watcher = Watcher(
            Discovery([make_target(quick), make_target(hole)]),
            ScrapeConfig(timeout=30, retries=2),
            WatchConfig(interval=0.3, scrape_deadline=30.0),
        )

        async def stop_soon() -> Report:
            asyncio.get_running_loop().call_later(1.5, watcher.stop)
            return await watcher.run()

        started = time.monotonic()
        targets = _by_url(asyncio.run(stop_soon()))
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 1.5, elapsed  # not the 30 s the hung scrape had left
    assert targets[quick]["status"] == "ok" and targets[quick]["snapshots"] >= 3
    assert targets[hole]["snapshots"] == 0 and targets[hole]["rounds"] == 0  # cancelled: nothing to judge


def _rounds(target: dict[str, object]) -> object:
    """Rounds a target was in: scraped, or skipped while its last scrape was still running (a slow first parse)."""
    return target["rounds"] + target.get("missed_rounds", 0)  # type: ignore[operator]


def _rollout(plan: list[list[Target]]) -> Discovery:
    """Discovery answering ``plan[i]`` on call i (the last answer from then on), re-read every round."""
    calls = 0

    async def pods() -> list[Target]:
        nonlocal calls
        calls += 1
        return plan[min(calls, len(plan)) - 1]

    return Discovery([], [("k8s", pods)], refresh=0)


def test_targets_discovery_dropped_leave_with_their_last_verdict() -> None:
    with fleet_server() as (url, _):
        old, new = make_target(f"{url}/go126-old", "checkout"), make_target(f"{url}/go126-new", "checkout")
        # by round number: rounds finish in any order (a slow scrape of round 2 may land after round 3's)
        departures: dict[int, list[str]] = {}
        live: dict[int, set[str]] = {}
        watcher = Watcher(
            _rollout([[old, new], [old, new], [new]]),
            ScrapeConfig(timeout=5, retries=0),
            WatchConfig(interval=0.2, max_rounds=6, depart_after=2),
        )

        def on_round(summary: RoundSummary) -> None:
            departures[summary.number] = summary.departed
            live[summary.number] = {t.target for t in watcher.report(departed=False).targets}

        watcher.on_round = on_round
        targets = _by_url(asyncio.run(watcher.run()))
    # missing in rounds 3 and 4: gone after the second (or the next round, if its last scrape was still in flight)
    (gone_in,) = [number for number, urls in departures.items() if urls]
    assert departures[gone_in] == [old.url] and gone_in in (4, 5), departures
    assert all(old.url not in live[n] and new.url in live[n] for n in live if n >= gone_in)  # live table, peers
    assert old.url not in watcher.instances  # its history is freed
    gone = targets[old.url]
    assert gone["status"] == "ok" and str(gone["departed_at"]).endswith("Z")
    assert _rounds(gone) == 2 and _rounds(targets[new.url]) == 6 and "departed_at" not in targets[new.url]


def test_a_target_that_comes_back_is_judged_afresh() -> None:
    with fleet_server() as (url, _):
        flapping, steady = make_target(f"{url}/go126-a"), make_target(f"{url}/go126-b")
        watcher = Watcher(
            _rollout([[flapping, steady], [steady], [steady], [flapping, steady]]),
            ScrapeConfig(timeout=5, retries=0),
            WatchConfig(interval=0.2, max_rounds=6, depart_after=2),
        )
        targets = _by_url(asyncio.run(watcher.run()))
    back = targets[flapping.url]
    assert "departed_at" not in back and _rounds(back) == 3  # rounds 4-6 only; listed once
    assert len(watcher.report().targets) == 2


def test_retention_runs_at_start_in_the_store_thread(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    old = store.target_id("http://10.0.0.1:6060")
    two_days_ago = time.time() - 2 * 86400
    store.record_round(old, two_days_ago, [NewSnapshot("heap", "pprof", b"old heap", {}, None, None)], {})
    threads: list[str] = []
    apply_retention = store.apply_retention

    def recorded(**limits: float | int | None) -> int:
        threads.append(threading.current_thread().name)
        return apply_retention(**limits)  # type: ignore[arg-type]

    store.apply_retention = recorded  # type: ignore[method-assign]
    left_at_round_1: list[int] = []
    with fleet_server() as (url, _):
        watcher = Watcher(
            Discovery([make_target(f"{url}/go126-1")]),
            ScrapeConfig(timeout=5, retries=0),
            WatchConfig(interval=0.2, max_rounds=1, retention_age=86400.0),
            store=store,
            on_round=lambda _: left_at_round_1.append(len(store.snapshots(target="http://10.0.0.1:6060"))),
        )
        asyncio.run(watcher.run())
    store.close()
    assert left_at_round_1 == [0]  # pruned before the first round's results were stored, not after
    assert len(threads) == 2 and threading.main_thread().name not in threads  # at start and at the end


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
