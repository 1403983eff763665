"""The watch loop: scrape every target each interval, store what was seen, keep a live verdict per instance.

Each target's results are analysed and written as soon as that target finishes (a dead or slow target delays
nobody), and each target's round is one store transaction, so stopping the watcher at any moment loses at most the
rounds in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leaksleuth.analysis.goroutine_verdict import Options
from leaksleuth.analysis.goroutines import GoroutineSnapshot
from leaksleuth.analysis.instance import InstanceState
from leaksleuth.analysis.series import memstats_series
from leaksleuth.collect.goroutine_sources import goroutine_snapshot
from leaksleuth.collect.scraper import ScrapeConfig, Scraper, ScrapeResult
from leaksleuth.collect.targets import Target
from leaksleuth.model.report import Report

if TYPE_CHECKING:
    from leaksleuth.store.db import NewSnapshot, Store

TargetSource = Callable[[], Awaitable[list[Target]]]


@dataclass(slots=True)
class WatchConfig:
    interval: float = 10.0
    duration: float | None = None  # seconds; None = until stopped
    max_rounds: int | None = None
    history: int = 120  # snapshots kept in memory per instance
    options: Options = field(default_factory=Options)


@dataclass(slots=True)
class RoundSummary:
    number: int
    started: float
    seconds: float
    results: list[ScrapeResult]


class Watcher:
    def __init__(
        self,
        targets: TargetSource,
        scrape: ScrapeConfig,
        config: WatchConfig,
        *,
        store: Store | None = None,
        on_round: Callable[[RoundSummary], None] | None = None,
    ) -> None:
        self.targets = targets
        self.scrape_config = scrape
        self.config = config
        self.store = store
        self.on_round = on_round
        self.instances: dict[str, InstanceState] = {}
        self.rounds = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> Report:
        deadline = time.monotonic() + self.config.duration if self.config.duration is not None else None
        async with Scraper(self.scrape_config) as scraper:
            while not self._stop.is_set():
                started = time.monotonic()
                await self.round(scraper)
                if self.config.max_rounds is not None and self.rounds >= self.config.max_rounds:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                wait = max(0.0, self.config.interval - (time.monotonic() - started))
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=wait)
        return self.report()

    async def round(self, scraper: Scraper) -> RoundSummary:
        self.rounds += 1
        started_wall, started = time.time(), time.monotonic()
        targets = await self.targets()
        await scraper.forget(target.url for target in targets)
        for target in targets:
            if target.url not in self.instances:
                self.instances[target.url] = InstanceState(target.url, target.service, self.config.history)
        results: list[ScrapeResult] = []
        for finished in asyncio.as_completed([scraper.scrape(target) for target in targets]):
            result = await finished
            results.append(result)
            await self._absorb(result)
        summary = RoundSummary(self.rounds, started_wall, time.monotonic() - started, results)
        if self.on_round is not None:
            self.on_round(summary)
        return summary

    async def _absorb(self, result: ScrapeResult) -> None:
        state = self.instances[result.target.url]
        if result.status != "ok":
            state.fail(result.status, result.error)
            if self.store is not None:
                await asyncio.to_thread(self._store_failure, result)
        else:
            snapshot = goroutine_snapshot(result)
            values = memstats_series(result.memstats, snapshot.total if snapshot else None)
            heap = result.heap
            build_id = heap.mappings[0].build_id if heap is not None and heap.mappings else None
            fetched_heap = result.get("heap")
            state.observe(
                result.taken_at,
                snapshot,
                values,
                build_id=build_id or None,
                heap=heap,
                heap_raw=fetched_heap.data if fetched_heap else None,
                notes=result.notes,
            )
            if self.store is not None:
                await asyncio.to_thread(self._store_result, result, snapshot, values, state)

    def _store_result(
        self, result: ScrapeResult, snapshot: GoroutineSnapshot | None, values: dict[str, float], state: InstanceState
    ) -> None:
        from leaksleuth.store.db import NewSnapshot

        assert self.store is not None
        target_id = self.store.target_id(result.target.url, result.target.service, result.target.label_dict())
        stored: list[NewSnapshot] = []
        for fetched in result.fetched:
            summary: dict[str, float | int | str] = {}
            if fetched.kind in ("goroutine", "goroutine-dump") and snapshot is not None:
                summary["goroutines"] = snapshot.total
            if fetched.kind == "heap" and "heap_inuse" in values:
                summary["heap_inuse"] = values["heap_inuse"]
            stored.append(
                NewSnapshot(
                    fetched.kind, str(fetched.parsed.format), fetched.data, summary, state.process_start, state.build_id
                )
            )
        self.store.record_round(target_id, result.taken_at, stored, values)

    def _store_failure(self, result: ScrapeResult) -> None:
        assert self.store is not None
        target_id = self.store.target_id(result.target.url, result.target.service, result.target.label_dict())
        self.store.record_round(target_id, result.taken_at, [], {}, status=result.status, error=result.error)

    # ---- verdicts --------------------------------------------------------------------------------------------
    def report(self) -> Report:
        """Every instance's verdict; peers are the other instances of its service (no service: it stands alone)."""
        from collections import defaultdict

        from leaksleuth.analysis.series import analyze_fleet
        from leaksleuth.collect.source import LocalSourceLines

        states = list(self.instances.values())
        groups: defaultdict[str, list[InstanceState]] = defaultdict(list)
        for state in states:
            groups[state.service or state.url].append(state)
        source = LocalSourceLines()  # names allocation kinds when the watched binaries were built here
        series = [s for s in (state.to_series() for state in states) if s is not None]
        by_url = {report.target: report for report in analyze_fleet(series)}  # peers: the whole fleet's groups
        return Report(
            [
                state.report(
                    [p for p in groups[state.service or state.url] if p is not state],
                    self.config.options,
                    source,
                    by_url.get(state.url),
                )
                for state in states
            ]
        )
