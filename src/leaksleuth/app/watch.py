"""The watch loop: scrape every target each interval, store what was seen, keep a live verdict per instance.

Scheduling works like Prometheus' per-target scrape loops: a round starts every ``interval`` whatever the targets
do, and starts a scrape for each target that is idle. A target whose previous scrape is still in flight is skipped
for that round ("busy": counted in ``missed_rounds`` and in the round summary), so a hung target delays nobody. Each
scrape — every request, retry and back-off — ends within ``scrape_deadline``: ``min(interval, timeout)`` unless set
(just ``timeout`` when only one round is asked for), time queued for a ``--concurrency`` slot excluded, so a target
that is merely slow is over before its own next round.

Each target's results are analysed and written as soon as that target finishes, and each target's round is one
store transaction, so stopping the watcher at any moment loses at most the rounds in flight. ``stop()`` (and the
end of ``duration``) cancels the scrapes in flight and keeps what completed; ``max_rounds`` lets the last round's
scrapes finish. Targets discovery stops returning are dropped after ``depart_after`` rounds: their last verdict is
kept for the final report (with ``departed_at``) but they leave the live view and the peer groups, and their
history is freed. Everything known of a target is one ``InstanceState`` in ``instances``.

Parsing a big body (in the scraper), the analysis of a big result and the final verdict run in threads, off the
event loop: one large dump must not stall the other targets (or, in ``serve``, every request). Small ones stay on
the loop: they take milliseconds, less than the hand-off to a thread costs. The clock and the scraper
are injected, so the schedule can be tested on a fake clock with a fake scraper.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from leaksleuth.app.collector import RoundCollector
from leaksleuth.app.instance import Flight, InstanceState, observation
from leaksleuth.app.watch_config import RoundSummary, ScrapesTargets, WatchConfig
from leaksleuth.app.watch_store import record_failure, record_result
from leaksleuth.clock import SYSTEM_CLOCK, Clock
from leaksleuth.collect.scrape_config import ScrapeConfig, ScrapeResult
from leaksleuth.collect.scraper import Scraper
from leaksleuth.collect.source import SourceFiles
from leaksleuth.model.incidents import Incident
from leaksleuth.model.report import Report, TargetReport
from leaksleuth.model.target import Target, TargetSource

if TYPE_CHECKING:
    from leaksleuth.store.db import Store

T = TypeVar("T")


class Watcher:
    def __init__(
        self,
        targets: TargetSource,
        scrape: ScrapeConfig,
        config: WatchConfig,
        *,
        store: Store | None = None,
        on_round: Callable[[RoundSummary], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        scraper: Callable[[ScrapeConfig], ScrapesTargets] | None = None,
    ) -> None:
        self.targets = targets
        self.scrape_config = scrape
        self.config = config
        self.store = store
        self.on_round = on_round
        self._collector = RoundCollector()  # keeps the histories out of the cycle collector's passes
        self.incidents: list[Incident] = []  # the latest judgement's service-level incidents
        self.clock = clock
        self._make_scraper = scraper or functools.partial(Scraper, clock=clock)
        # every target ever seen, by URL: the current ones and, with their last verdict, those discovery dropped
        self.instances: dict[str, InstanceState] = {}
        self.rounds = 0
        self._round_tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None
        self._store_thread: ThreadPoolExecutor | None = None
        self._analysis: ThreadPoolExecutor | None = None
        self._source = SourceFiles(config.source_roots)  # read when the verdict names a line (each file once)

    def current(self) -> list[InstanceState]:
        """The targets being watched now (discovery still returns them)."""
        return [state for state in self.instances.values() if state.departed is None]

    def watching(self, url: str) -> InstanceState | None:
        """The state of a target watched now (None: never seen, or discovery dropped it)."""
        state = self.instances.get(url)
        return state if state is not None and state.departed is None else None

    def departed(self) -> list[InstanceState]:
        """The targets discovery dropped, in the order they left."""
        return [state for state in self.instances.values() if state.departed is not None]

    def stop(self) -> None:
        """Stop now: no new round, scrapes in flight are cancelled; ``run`` returns the report of what completed."""
        self._stop.set()

    @property
    def scrape_deadline(self) -> float:
        config = self.config
        if config.scrape_deadline is not None:
            return config.scrape_deadline
        if config.max_rounds == 1:  # no next round to keep clear of
            return self.scrape_config.timeout
        return min(config.interval, self.scrape_config.timeout)

    # ---- the schedule ------------------------------------------------------------------------------------------
    async def run(self) -> Report:
        loop = asyncio.get_running_loop()
        ending = loop.create_task(self._end_after(self.config.duration)) if self.config.duration is not None else None
        if self.store is not None:  # one thread for the store: writes and pruning never interleave
            self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="leaksleuth-store")
        if self.config.analysis_threads > 0:
            self._analysis = ThreadPoolExecutor(self.config.analysis_threads, thread_name_prefix="leaksleuth-analysis")
        retention = loop.create_task(self._retention()) if self._prunes else None
        try:
            async with self._make_scraper(replace(self.scrape_config, deadline=self.scrape_deadline)) as scraper:
                try:
                    await self._schedule(scraper)
                    await self._drain()
                finally:
                    self._cancel_scrapes()  # only does something when run() itself is cancelled
                    await asyncio.gather(*self._round_tasks, return_exceptions=True)
            if retention is not None:
                retention.cancel()
                await asyncio.gather(retention, return_exceptions=True)
                if self._failure is None:
                    await self._in_store_thread(self._prune)  # and once more at the end
            if self._failure is None:
                return await self._off_loop(self.report)  # nothing is absorbed any more: no one else reads them
        finally:
            for task in (ending, retention):
                if task is not None:
                    task.cancel()
            for pool in (self._store_thread, self._analysis):
                if pool is not None:
                    await asyncio.to_thread(pool.shutdown)  # waits for a write in progress
            self._collector.close()
        assert self._failure is not None
        raise self._failure

    async def _end_after(self, seconds: float) -> None:
        await self.clock.sleep(seconds)
        self._stop.set()

    async def _off_loop(self, work: Callable[[], T]) -> T:
        """``work()`` in an analysis thread (on the loop when there is none: ``analysis_threads=0``)."""
        if self._analysis is None:
            return work()
        return await asyncio.get_running_loop().run_in_executor(self._analysis, work)

    async def _schedule(self, scraper: ScrapesTargets) -> None:
        clock = self.clock
        next_start = clock.monotonic()
        while not self._stop.is_set():
            targets = await self._unless_stopped(self.targets())
            if targets is None:
                return
            await self._start_round(scraper, targets)
            if self.config.max_rounds is not None and self.rounds >= self.config.max_rounds:
                return
            # a late round (slow discovery, a busy event loop) shifts the schedule rather than bursting to catch up
            next_start = max(next_start + self.config.interval, clock.monotonic())
            await self._unless_stopped(clock.sleep(next_start - clock.monotonic()))

    async def _drain(self) -> None:
        """Let the last round's scrapes finish (max_rounds), unless stop() or the end of duration comes first."""
        stopping = asyncio.get_running_loop().create_task(self._stop.wait())
        stopping.add_done_callback(self._cancel_scrapes_unless_cancelled)
        try:
            await asyncio.gather(*self._round_tasks)
        finally:
            stopping.cancel()

    def _cancel_scrapes_unless_cancelled(self, stopping: asyncio.Task[Any]) -> None:
        if not stopping.cancelled():
            self._cancel_scrapes()

    def _cancel_scrapes(self) -> None:
        for state in self.instances.values():
            if state.flight is not None and state.flight.scraping:
                state.flight.task.cancel()

    async def _unless_stopped(self, awaitable: Awaitable[T]) -> T | None:
        """The awaitable's result, or None (and it is cancelled) if stop() comes first."""
        work = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        return None if work.cancelled() else work.result()

    async def _start_round(self, scraper: ScrapesTargets, targets: list[Target]) -> None:
        self.rounds += 1
        self._collector.round_starts()
        started_wall, started = self.clock.wall(), self.clock.monotonic()
        departed = self._track(targets)
        in_flight = [state.url for state in self.instances.values() if state.flight is not None]
        await scraper.forget([*(target.url for target in targets), *in_flight])
        loop = asyncio.get_running_loop()
        busy: list[str] = []
        tasks: list[asyncio.Task[ScrapeResult | None]] = []
        for target in targets:
            state = self.instances[target.url]
            if state.flight is not None:
                busy.append(target.url)
                state.missed += 1
                continue
            task = loop.create_task(self._scrape(scraper, target, state))
            state.flight = Flight(task)
            task.add_done_callback(functools.partial(self._landed, state))
            tasks.append(task)
        finished = loop.create_task(self._finish_round(self.rounds, started_wall, started, tasks, busy, departed))
        self._round_tasks.add(finished)
        finished.add_done_callback(self._round_tasks.discard)

    @staticmethod
    def _landed(state: InstanceState, _task: asyncio.Task[ScrapeResult | None]) -> None:
        state.flight = None

    async def _scrape(self, scraper: ScrapesTargets, target: Target, state: InstanceState) -> ScrapeResult | None:
        result = await scraper.scrape(target)  # the only part stop() cancels
        if state.flight is not None:
            state.flight.scraping = False
        try:
            await self._absorb(result, state)
        except Exception as exc:  # the store failing (disk full, database gone) ends the watch, as it should
            self._fail(exc)
            return None
        return result

    async def _finish_round(
        self,
        number: int,
        started_wall: float,
        started: float,
        tasks: list[asyncio.Task[ScrapeResult | None]],
        busy: list[str],
        departed: list[str],
    ) -> None:
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)  # cancelled scrapes: CancelledError
        results = [outcome for outcome in outcomes if isinstance(outcome, ScrapeResult)]
        if self.on_round is None or self._failure is not None:
            return
        try:
            seconds = self.clock.monotonic() - started
            self.on_round(RoundSummary(number, started_wall, seconds, results, busy, departed))
        except Exception as exc:  # a renderer's bug must end the watch with its error, not vanish in a task
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._stop.set()

    # ---- targets coming and going ------------------------------------------------------------------------------
    def _track(self, targets: Iterable[Target]) -> list[str]:
        """New targets get a state; known ones missing ``depart_after`` rounds in a row are dropped."""
        present = set()
        for target in targets:
            present.add(target.url)
            state = self.instances.get(target.url)
            if state is None or state.departed is not None:  # new, back again (or an address reused): afresh
                self.instances.pop(target.url, None)
                self.instances[target.url] = InstanceState(target.url, target.service, self.config.history)
            else:
                state.absent = 0
        leaving = []
        for state in self.current():
            if state.url in present:
                continue
            state.absent += 1
            if state.absent >= self.config.depart_after and state.flight is None:
                leaving.append(state.url)
        if leaving:
            departed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock.wall()))
            for verdict in self._judge(leaving):
                state = self.instances.pop(verdict.target)
                state.depart(verdict, departed_at)
                self.instances[verdict.target] = state  # last: the departed are reported in the order they left
        return leaving

    # ---- results -----------------------------------------------------------------------------------------------
    async def _absorb(self, result: ScrapeResult, state: InstanceState) -> None:
        if state.departed is not None:  # dropped while its scrape was in flight: nothing left to judge it with
            return
        state.planned(result)
        if result.status != "ok":
            state.fail(result.status, result.error)
            if self.store is not None:
                await self._in_store_thread(record_failure, self.store, result)
            return
        work = functools.partial(observation, result, state.heap.sample_index)
        big = sum(len(fetched.data) for fetched in result.fetched) >= self.config.thread_analysis_bytes
        seen = await self._off_loop(work) if big else work()
        state.observe(seen)  # cheap: appends to the histories, on the loop, so no verdict reads them half-written
        if self.store is not None:
            await self._in_store_thread(record_result, self.store, result, seen.snapshot, seen.values, state)

    async def _in_store_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        assert self._store_thread is not None
        return await asyncio.get_running_loop().run_in_executor(self._store_thread, function, *args)

    # ---- retention ---------------------------------------------------------------------------------------------
    @property
    def _prunes(self) -> bool:
        return self.store is not None and (
            self.config.retention_age is not None or self.config.retention_count is not None
        )

    def _prune(self) -> None:
        assert self.store is not None
        self.store.apply_retention(max_age=self.config.retention_age, max_per_kind=self.config.retention_count)

    async def _retention(self) -> None:
        """Prune at start and every ``retention_every`` seconds, in the store thread (it scans every blob)."""
        while True:
            try:
                await self._in_store_thread(self._prune)
            except Exception as exc:
                self._fail(exc)
                return
            await self.clock.sleep(self.config.retention_every)

    # ---- verdicts --------------------------------------------------------------------------------------------
    def report(self, *, departed: bool = True) -> Report:
        """Every instance's verdict (and, with ``departed``, the last verdict of each one discovery dropped)."""
        verdicts = self._judge([state.url for state in self.current()])
        if departed:
            verdicts.extend(state.departed for state in self.departed() if state.departed is not None)
        return Report(verdicts, incidents=list(self.incidents))

    def _judge(self, urls: Collection[str]) -> list[TargetReport]:
        """Verdicts of ``urls``; peers are the other current instances of their service (no service: alone)."""
        from leaksleuth.analysis.series.fleet import analyze_fleet
        from leaksleuth.analysis.series.knockon import find_incidents
        from leaksleuth.analysis.source.fusion import explain

        states = self.current()
        groups: defaultdict[str, list[InstanceState]] = defaultdict(list)
        for state in states:
            groups[state.service or state.url].append(state)
        source = self._source.lines  # names allocation kinds when the watched source is readable here
        series = [s for s in (state.to_series() for state in states) if s is not None]
        by_url = {report.target: report for report in analyze_fleet(series)}  # peers: the whole fleet's groups
        self.incidents = find_incidents(series, by_url)  # knock-on, restart cascades: per service
        verdicts = []
        for url in urls:
            state = self.instances[url]
            verdict = state.report(
                [p for p in groups[state.service or state.url] if p is not state],
                self.config.options,
                source,
                by_url.get(state.url),
            )
            verdict.suspects = explain(verdict.suspects, self._source.read)
            verdicts.append(verdict)
        return verdicts
