"""The watch schedule on a fake clock: rounds start on time whatever one target does, stop means now, targets come
and go, the store is pruned at start, off the event loop, and results are analysed off it.

``looptime`` fast-forwards the event loop's clock, the wall clock follows it (``LoopClock``) and the targets are a
``FakeScraper``, so every time below is exact: no margins for a busy machine. (tests/live/test_watch_schedule.py
keeps the same schedule against a real Go service, a black hole and real processes.)
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from leaksleuth.app import watch
from leaksleuth.app.instance import Observation
from leaksleuth.app.watch import Watcher
from leaksleuth.app.watch_config import RoundSummary, WatchConfig
from leaksleuth.collect.discovery import Discovery
from leaksleuth.collect.scrape_config import ScrapeConfig, ScrapeResult
from leaksleuth.model.report import Report
from leaksleuth.model.target import Target, make_target
from leaksleuth.store.db import NewSnapshot, open_store
from tests.support.fake_scraper import EPOCH, QUICK, SLOW, FakeScraper, LoopClock, fake_scrapers

pytestmark = pytest.mark.looptime

FLEET = "http://fleet.test"


def _by_url(report: Report) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in report.to_json()["targets"]}


def _watcher(targets: list[Target] | Discovery, scrape: ScrapeConfig, config: WatchConfig, **kwargs: Any) -> Watcher:
    """A watcher on the fake clock. (Its results are small: analysed on the loop, they take no loop time; in a
    thread, the thread's real time would move the loop's clock.)"""
    discovery = targets if isinstance(targets, Discovery) else Discovery(targets)
    return Watcher(discovery, scrape, config, clock=LoopClock(), **kwargs)


async def _run(watcher: Watcher) -> tuple[Report, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    report = await watcher.run()
    return report, loop.time() - started


async def test_a_hung_target_delays_nobody_and_duration_ends_on_time() -> None:
    """Defaults: 10 s per request, 2 retries. A round used to wait for the hung target (~31 s): the healthy
    service got one snapshot in 20 s and --duration overran by as much."""
    healthy, hole = f"{FLEET}/go126-1", f"{FLEET}/hung-1"
    made, scraper = fake_scrapers()
    watcher = _watcher(
        [make_target(healthy), make_target(hole)], ScrapeConfig(), WatchConfig(0.5, 4.0), scraper=scraper
    )
    report, elapsed = await _run(watcher)
    targets = _by_url(report)
    assert elapsed == pytest.approx(4.0)  # to the tick
    assert made[0].started[healthy] == pytest.approx([0.5 * n for n in range(8)])  # 8 rounds start in 4 s
    assert targets[healthy]["status"] == "ok" and targets[healthy]["snapshots"] == 8
    assert targets[hole]["status"] == "error" and "timed out after 0.5s" in str(targets[hole]["error"])
    # each scrape is cut at the 0.5 s deadline, a moment after the next round began: every other round it is busy
    assert made[0].started[hole] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert targets[hole]["rounds"] == 4 and targets[hole]["missed_rounds"] == 4


async def test_a_target_still_busy_skips_rounds_and_says_so() -> None:
    """A target slower than the interval (1 s a scrape, rounds 0.4 s apart) misses rounds; the others keep every
    round."""
    busy_rounds: dict[int, list[str]] = {}  # by number: rounds finish in any order (round 1 waits for slow)
    slow, quick = f"{FLEET}/slow-1", f"{FLEET}/go126-1"
    _, scraper = fake_scrapers()
    watcher = _watcher(
        [make_target(slow), make_target(quick)],
        ScrapeConfig(timeout=5, retries=0),
        WatchConfig(interval=0.4, max_rounds=6, scrape_deadline=5.0),
        on_round=lambda summary: busy_rounds.update({summary.number: summary.busy}),
        scraper=scraper,
    )
    report, elapsed = await _run(watcher)
    targets = _by_url(report)
    assert targets[quick]["snapshots"] == 6
    assert targets[slow]["status"] == "ok"
    missed = targets[slow]["missed_rounds"]
    assert isinstance(missed, int) and missed >= 2 and targets[slow]["snapshots"] + missed == 6
    assert sum(slow in busy for busy in busy_rounds.values()) == missed
    # exactly: scrapes at 0 and 1.2 s, busy at 0.4, 0.8, 1.6 and 2.0; the last one lands at 2.2 s
    assert missed == 4 and [busy_rounds[n] for n in range(1, 7)] == [[], [slow], [slow], [], [slow], [slow]]
    assert elapsed == pytest.approx(1.2 + SLOW)


async def test_stop_cancels_scrapes_in_flight_and_reports_what_completed() -> None:
    quick, hole = f"{FLEET}/go126-1", f"{FLEET}/hung-1"
    _, scraper = fake_scrapers()
    watcher = _watcher(
        [make_target(quick), make_target(hole)],
        ScrapeConfig(timeout=30, retries=2),
        WatchConfig(interval=0.3, scrape_deadline=30.0),
        scraper=scraper,
    )
    asyncio.get_running_loop().call_later(1.55, watcher.stop)
    report, elapsed = await _run(watcher)
    targets = _by_url(report)
    assert elapsed == pytest.approx(1.55)  # not the 30 s the hung scrape had left
    assert targets[quick]["status"] == "ok" and targets[quick]["snapshots"] == 6  # rounds at 0, 0.3 … 1.5 s
    assert targets[hole]["snapshots"] == 0 and targets[hole]["rounds"] == 0  # cancelled: nothing to judge


async def test_slow_and_endless_targets_skip_rounds_instead_of_stretching_them() -> None:
    """The schedule of tests/live/test_watch.py's fleet (8 rounds 0.4 s apart, 1.5 s per request): targets slower
    than the interval are cut at the scrape deadline, min(interval, timeout), and skip the round they overlap."""
    quick, slow, endless = f"{FLEET}/go126-1", f"{FLEET}/slow-1", f"{FLEET}/hung-1"
    _, scraper = fake_scrapers()
    watcher = _watcher(
        [make_target(url) for url in (quick, slow, endless)],
        ScrapeConfig(timeout=1.5, retries=0, max_body=4 << 20),
        WatchConfig(interval=0.4, max_rounds=8),
        scraper=scraper,
    )
    report, elapsed = await _run(watcher)
    targets = _by_url(report)
    assert elapsed < 8 * 0.4 + 1.5 + 6
    assert elapsed == pytest.approx(7 * 0.4 + QUICK)  # the last round's quick scrape; the others were busy
    assert targets[quick]["snapshots"] == 8 and "missed_rounds" not in targets[quick]
    for url in (slow, endless):
        assert targets[url]["status"] == "error" and targets[url]["rounds"] == targets[url]["missed_rounds"] == 4


def _rounds(target: dict[str, Any]) -> int:
    """Rounds a target was in: scraped, or skipped while its last scrape was still running."""
    return int(target["rounds"] + target.get("missed_rounds", 0))


def _rollout(plan: list[list[Target]]) -> Discovery:
    """Discovery answering ``plan[i]`` on call i (the last answer from then on), re-read every round."""
    calls = 0

    async def pods() -> list[Target]:
        nonlocal calls
        calls += 1
        return plan[min(calls, len(plan)) - 1]

    return Discovery([], [("k8s", pods)], refresh=0)


async def test_targets_discovery_dropped_leave_with_their_last_verdict() -> None:
    old, new = make_target(f"{FLEET}/go126-old", "checkout"), make_target(f"{FLEET}/go126-new", "checkout")
    departures: dict[int, list[str]] = {}
    live: dict[int, set[str]] = {}
    _, scraper = fake_scrapers()
    watcher = _watcher(
        _rollout([[old, new], [old, new], [new]]),
        ScrapeConfig(timeout=5, retries=0),
        WatchConfig(interval=0.2, max_rounds=6, depart_after=2),
        scraper=scraper,
    )

    def on_round(summary: RoundSummary) -> None:
        departures[summary.number] = summary.departed
        live[summary.number] = {t.target for t in watcher.report(departed=False).targets}

    watcher.on_round = on_round
    report, _ = await _run(watcher)
    targets = _by_url(report)
    # missing in rounds 3 and 4: gone after the second
    (gone_in,) = [number for number, urls in departures.items() if urls]
    assert departures[gone_in] == [old.url] and gone_in == 4, departures
    assert all(old.url not in live[n] and new.url in live[n] for n in live if n >= gone_in)  # live table, peers
    left = watcher.instances[old.url]
    assert left not in watcher.current() and len(left.window) == len(left.heap) == 0  # its history is freed
    gone = targets[old.url]
    assert gone["status"] == "ok" and str(gone["departed_at"]).endswith("Z")
    # it left in round 4, 0.6 s after the start (the fake wall clock starts at EPOCH)
    assert gone["departed_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH + 0.6))
    assert _rounds(gone) == 2 and _rounds(targets[new.url]) == 6 and "departed_at" not in targets[new.url]
    assert [t["target"] for t in report.to_json()["targets"]] == [new.url, old.url]  # the departed come last


async def test_a_target_that_comes_back_is_judged_afresh() -> None:
    flapping, steady = make_target(f"{FLEET}/go126-a"), make_target(f"{FLEET}/go126-b")
    _, scraper = fake_scrapers()
    watcher = _watcher(
        _rollout([[flapping, steady], [steady], [steady], [flapping, steady]]),
        ScrapeConfig(timeout=5, retries=0),
        WatchConfig(interval=0.2, max_rounds=6, depart_after=2),
        scraper=scraper,
    )
    report, _ = await _run(watcher)
    back = _by_url(report)[flapping.url]
    assert "departed_at" not in back and _rounds(back) == 3  # rounds 4-6 only; listed once
    assert len(watcher.report().targets) == 2


async def test_retention_runs_at_start_in_the_store_thread(tmp_path: Path) -> None:
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
    _, scraper = fake_scrapers()
    watcher = _watcher(
        [make_target(f"{FLEET}/go126-1")],
        ScrapeConfig(timeout=5, retries=0),
        WatchConfig(interval=0.2, max_rounds=1, retention_age=86400.0),
        store=store,
        on_round=lambda _: left_at_round_1.append(len(store.snapshots(target="http://10.0.0.1:6060"))),
        scraper=scraper,
    )
    await watcher.run()
    store.close()
    assert left_at_round_1 == [0]  # pruned before the first round's results were stored, not after
    assert len(threads) == 2 and threading.main_thread().name not in threads  # at start and at the end


async def test_results_and_the_verdict_are_analysed_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A big dump is bucketed and a big heap profile reduced to its sites in an analysis thread: on the loop, one
    large result would stall every other target (and, in serve, every request)."""
    threads: list[str] = []
    observation, report = watch.observation, Watcher.report

    def observed(result: ScrapeResult, sample_index: str = "inuse_space") -> Observation:
        threads.append(threading.current_thread().name)
        return observation(result, sample_index)

    def judged(self: Watcher, *, departed: bool = True) -> Report:
        threads.append(threading.current_thread().name)
        return report(self, departed=departed)

    monkeypatch.setattr(watch, "observation", observed)
    monkeypatch.setattr(Watcher, "report", judged)
    watcher = Watcher(
        Discovery([make_target(f"{FLEET}/go126-1")]),
        ScrapeConfig(),
        WatchConfig(interval=0.2, max_rounds=2, thread_analysis_bytes=0),  # every result counts as big
        clock=LoopClock(),
        scraper=FakeScraper,
    )
    report_ = await watcher.run()
    assert report_.targets[0].snapshots == 2
    assert len(threads) == 3 and all(name.startswith("leaksleuth-analysis") for name in threads), threads
