"""A scraper for the watcher's schedule tests on a fake clock (``looptime``): no sockets, every target answers in
loop time with results parsed from real captures, and the scrape deadline cuts a scrape as the real one does.

Targets are named like the loopback fleet server's (``tests.support.hostile.fleet_server``): ``go126-…`` answers in
``QUICK`` seconds, ``slow-…`` in ``SLOW``, ``hung-…`` never. Like the real scraper, the deadline starts with the
first request, a moment (``CONNECT``) after the scrape itself, so a scrape cut at its deadline is still in flight
when the next round starts on the same tick.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from leaksleuth.clock import SystemClock
from leaksleuth.collect.scrape_config import Fetched, ScrapeConfig, ScrapeResult
from leaksleuth.formats import Format, parse
from leaksleuth.model.target import Target
from tests.conftest import CAPTURES
from tests.support.hostile import GO_1_26

CONNECT = 0.001
QUICK = 0.01
SLOW = 1.0
EPOCH = 1_800_000_000.0  # the fake wall clock's start

_KINDS = {  # GO_1_26 paths -> the kind the scraper fetches them as
    "/debug/pprof/goroutine": ("goroutine", Format.PPROF),
    "/debug/pprof/goroutineleak?debug=2": ("goroutine-dump", Format.GOROUTINE_DUMP),
    "/debug/pprof/heap": ("heap", Format.PPROF),
    "/metrics": ("metrics", Format.PROMETHEUS),
}


class LoopClock(SystemClock):
    """Wall time that follows the event loop's clock: fast-forwarded with it, and exact."""

    def wall(self) -> float:
        return EPOCH + asyncio.get_running_loop().time()


@functools.cache
def _captured() -> tuple[Fetched, ...]:
    fetched = []
    for path, file in GO_1_26.items():
        kind, expected = _KINDS[path]
        data = (CAPTURES / file).read_bytes()
        fetched.append(Fetched(kind, data, parse(data, format=expected)))
    return tuple(fetched)


@dataclass
class FakeScraper:
    config: ScrapeConfig
    clock: SystemClock = field(default_factory=LoopClock)
    started: dict[str, list[float]] = field(default_factory=dict)  # loop times each target's scrapes began
    forgotten: list[str] = field(default_factory=list)

    async def __aenter__(self) -> FakeScraper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def forget(self, keep: Iterable[str]) -> None:
        kept = set(keep)
        self.forgotten.extend(url for url in self.started if url not in kept)

    async def scrape(self, target: Target) -> ScrapeResult:
        loop = asyncio.get_running_loop()
        self.started.setdefault(target.url, []).append(loop.time())
        result = ScrapeResult(target, self.clock.wall())
        kind = target.url.rsplit("/", 1)[-1].split("-", 1)[0]
        seconds = {"go126": QUICK, "slow": SLOW}.get(kind, math.inf)
        await asyncio.sleep(CONNECT)
        try:
            async with asyncio.timeout(self.config.deadline):
                await (asyncio.sleep(seconds - CONNECT) if seconds < math.inf else asyncio.Event().wait())
        except TimeoutError:
            result.status = "error"
            result.error = f"GET {target.url}/debug/pprof/goroutine: timed out after {self.config.deadline:g}s"
        else:
            result.fetched = list(_captured())
        result.seconds = loop.time() - self.started[target.url][-1]
        return result


def fake_scrapers() -> tuple[list[FakeScraper], Callable[[ScrapeConfig], FakeScraper]]:
    """The watcher's ``scraper`` factory, and the scrapers it made (to read what they saw)."""
    made: list[FakeScraper] = []

    def make(config: ScrapeConfig) -> FakeScraper:
        made.append(FakeScraper(config))
        return made[-1]

    return made, make
