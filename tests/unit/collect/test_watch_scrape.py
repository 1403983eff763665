"""The fleet scraper against loopback servers serving real captures: retries and back-off, the concurrency limit,
the scrape deadline, the fallbacks for what a target does not serve, and the heap estimate when it has no metrics."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from leaksleuth import httpio
from leaksleuth.app.watch import Watcher
from leaksleuth.app.watch_config import WatchConfig
from leaksleuth.collect import scraper
from leaksleuth.collect.discovery import Discovery
from leaksleuth.collect.scrape_config import ScrapeConfig, ScrapeResult
from leaksleuth.collect.scraper import Scraper
from leaksleuth.errors import ConfigError
from leaksleuth.formats import parse
from leaksleuth.model.target import make_target
from tests.conftest import CAPTURES
from tests.support.hostile import fleet_server


def _scrape(config: ScrapeConfig, *urls: str, times: int = 1) -> list[ScrapeResult]:
    async def run() -> list[ScrapeResult]:
        results: list[ScrapeResult] = []
        async with Scraper(config) as scraping:
            for _ in range(times):
                results += await scraping.scrape_all([make_target(url) for url in urls])
        return results

    return asyncio.run(run())


def test_transient_errors_are_retried_with_growing_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []

    def longest_delay(attempt: int, base: float) -> float:  # the jitter's upper bound: deterministic delays
        monkeypatch.setattr(httpio.random, "uniform", lambda low, high: high)
        delays.append(httpio.backoff_delay(attempt, base))
        return delays[-1]

    monkeypatch.setattr(scraper, "backoff_delay", longest_delay)
    with fleet_server() as (url, fleet):
        [result] = _scrape(ScrapeConfig(timeout=5, retries=2, backoff=0.2), f"{url}/flaky-1")
        assert result.status == "ok", result.error
        attempts = [at for at, name, path in fleet.requests if name == "flaky-1" and path == "/debug/pprof/goroutine"]
        [exhausted] = _scrape(ScrapeConfig(timeout=5, retries=1, backoff=0.05), f"{url}/busy503-1")
        assert fleet.paths("busy503-1") == ["/debug/pprof/goroutine"] * 2  # one try + one retry, then it gave up
    assert len(attempts) == 3
    assert delays[:2] == [0.2, 0.4]  # doubling
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps  # the server saw the waits (lower bounds only: no flaky timing)
    assert exhausted.status == "error" and "HTTP 503: overloaded, try later" in (exhausted.error or "")


def test_a_retry_that_cannot_finish_within_the_deadline_is_not_started() -> None:
    with fleet_server() as (url, fleet):
        started = time.monotonic()
        [result] = _scrape(ScrapeConfig(timeout=5, retries=10, backoff=0.4, deadline=1.0), f"{url}/busy503-1")
        elapsed = time.monotonic() - started
        attempts = len(fleet.paths("busy503-1"))
    assert result.status == "error" and "within the 1s deadline" in (result.error or ""), result.error
    assert attempts < 11 and elapsed < 1.0 + 2  # ten retries would take ~8 s of back-off


def test_the_deadline_covers_the_whole_scrape_not_each_request() -> None:
    """Four requests of 0.3 s each: 1.2 s of work does not fit a 0.8 s deadline, though each request does."""
    with fleet_server() as (url, _):
        [cut] = _scrape(ScrapeConfig(timeout=5, retries=0, deadline=0.8), f"{url}/slow-1")
        [whole] = _scrape(ScrapeConfig(timeout=5, retries=0), f"{url}/slow-2")
    assert cut.status == "error" and "0.8s deadline" in (cut.error or ""), cut.error
    assert whole.status == "ok", whole.error


def test_the_concurrency_limit_holds_across_targets() -> None:
    with fleet_server() as (url, fleet):
        results = _scrape(ScrapeConfig(timeout=10, retries=0, concurrency=3), *(f"{url}/slow-{i}" for i in range(6)))
    assert {r.status for r in results} == {"ok"}
    assert 2 <= fleet.max_in_flight <= 3  # overlapping (six targets at once), never past the limit
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        Scraper(ScrapeConfig(concurrency=0))


def test_without_goroutineleak_and_metrics_it_falls_back_and_remembers() -> None:
    """Go < 1.26 (no goroutineleak profile: 404) with expvar but no /metrics."""
    with fleet_server() as (url, fleet):
        first, second = _scrape(ScrapeConfig(timeout=5, retries=0), f"{url}/oldgo-1", times=2)
        paths = fleet.paths("oldgo-1")
    for result in (first, second):
        assert result.status == "ok", result.error
        assert [f.kind for f in result.fetched] == ["goroutine", "goroutine-dump", "heap", "vars"]
        assert result.dump is not None and result.memstats is not None and result.memstats.heap_inuse
    assert any("no goroutineleak profile" in note for note in first.notes)
    assert paths.count("/debug/pprof/goroutineleak?debug=2") == 1  # asked once, remembered
    assert paths.count("/metrics") == 1 and paths.count("/debug/vars") == 2


def test_pprof_only_targets_get_the_heap_in_use_from_the_heap_profile() -> None:
    """No /metrics and no /debug/vars: heap in use is the heap profile's inuse_space total, marked estimated."""
    heap = parse((CAPTURES / "heapkinds.heap.pb.gz").read_bytes()).profile
    assert heap is not None
    inuse_space = heap.totals()[[t.type for t in heap.sample_types].index("inuse_space")]
    with fleet_server() as (url, _):
        watcher = Watcher(
            Discovery([make_target(f"{url}/pprofonly-1"), make_target(f"{url}/go126-1")]),
            ScrapeConfig(timeout=5, retries=0),
            WatchConfig(interval=1.0, max_rounds=2),
        )
        report = asyncio.run(watcher.run())
    by_url = {t.target: t for t in report.targets}
    only = by_url[f"{url}/pprofonly-1"]
    assert only.status == "ok", only.error
    assert any("no /metrics or /debug/vars" in note for note in only.extra["notes"])
    assert only.extra["heap_inuse_bytes"] == inuse_space and only.extra["heap_inuse_estimated"] is True
    measured = by_url[f"{url}/go126-1"].extra  # the runtime's own number wins when there is one
    assert measured["heap_inuse_bytes"] and measured["heap_inuse_bytes"] != inuse_space
    assert "heap_inuse_estimated" not in measured
