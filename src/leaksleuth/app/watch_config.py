"""What a watch is asked to do (``WatchConfig``), what it reports after each round (``RoundSummary``), and what it
needs of a scraper (``ScrapesTargets``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from leaksleuth.analysis.goroutines.verdict import Options
from leaksleuth.collect import WATCH_INTERVAL
from leaksleuth.collect.scrape_config import ScrapeResult
from leaksleuth.collect.source import SourceRoot
from leaksleuth.model.target import Target

if TYPE_CHECKING:
    from types import TracebackType


class ScrapesTargets(Protocol):
    """What the watcher needs of a scraper (``collect.scraper.Scraper``; tests give a fake)."""

    async def __aenter__(self) -> ScrapesTargets: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None: ...

    async def forget(self, keep: Iterable[str]) -> None: ...

    async def scrape(self, target: Target) -> ScrapeResult: ...


@dataclass(slots=True)
class WatchConfig:
    interval: float = WATCH_INTERVAL
    duration: float | None = None  # seconds; None = until stopped
    max_rounds: int | None = None
    history: int = 120  # snapshots kept in memory per instance
    options: Options = field(default_factory=lambda: Options(watching=True))  # first looks wait for a second
    scrape_deadline: float | None = None  # one target's whole scrape; None: min(interval, timeout)
    depart_after: int = 2  # rounds a target may be missing from discovery before it is dropped
    retention_age: float | None = None  # seconds; prune the store at start, every retention_every and at the end
    retention_count: int | None = None  # snapshots kept per target and kind
    retention_every: float = 300.0  # pruning scans every blob: not more often than this
    analysis_threads: int = 2  # big results and the final verdict are analysed off the event loop (0: on it)
    thread_analysis_bytes: int = 256 << 10  # a result that fetched this much is analysed in a thread
    source_roots: tuple[SourceRoot, ...] = ()  # where the watched services' source is checked out (--source-root)


@dataclass(slots=True)
class RoundSummary:
    number: int
    started: float  # wall clock
    seconds: float  # from the round's start until its last scrape was absorbed
    results: list[ScrapeResult]
    busy: list[str] = field(default_factory=list)  # skipped: the previous scrape was still in flight
    departed: list[str] = field(default_factory=list)  # dropped this round: discovery no longer returns them
