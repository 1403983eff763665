"""What leaksleuth knows about one target over a watch: bounded history, its live verdict, and its place in the
watch (missed rounds, rounds absent from discovery, the scrape in flight, its departure), in one object.

The histories are fed parsed observations (goroutine snapshot, runtime series, heap sites) worked out off the event
loop, and asked for a ``TargetReport``. One ``RestartDetector`` decides from every signal of a round (process start
time, lifetime counters of the metrics and of the heap profile, build id, goroutine ids) whether the process
restarted, and then every history is cut at that round: goroutines, heap and series judge the newest process alike,
and ``restarts`` is one number.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from leaksleuth.analysis.attribution import attribute
from leaksleuth.analysis.goroutines.buckets import GoroutineSnapshot, Window
from leaksleuth.analysis.goroutines.snapshots import LeakProof, apply_proof, leak_proof
from leaksleuth.analysis.goroutines.verdict import Options, evaluate
from leaksleuth.analysis.heap.history import HeapHistory, HeapRow, Reload
from leaksleuth.analysis.restarts import RestartDetector, Signals
from leaksleuth.analysis.ring import RingColumns
from leaksleuth.analysis.series.fleet import InstanceSeries, memstats_series
from leaksleuth.app.goroutine_sources import goroutine_snapshot
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model.report import Suspect, TargetReport
from leaksleuth.model.views import InstanceFacts

if TYPE_CHECKING:
    from leaksleuth.analysis.heap.sites import SourceLines
    from leaksleuth.collect.scrape_config import ScrapeResult
    from leaksleuth.model.profile import Profile


class SeriesBuffer:
    """The runtime series of one instance: one shared time column and one float column per name (NaN = not reported
    that round), bounded. Arrays of doubles, not lists of tuples: 16 bytes a point instead of ~100."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows = RingColumns[str](capacity, {"time": "d", "restart": "b"}, keyed="d", fill=math.nan, sparse=False)
        self._starting_over = False

    @property
    def times(self) -> array[float]:
        return self._rows.values("time")

    @property
    def columns(self) -> dict[str, array[float]]:
        return self._rows.columns

    @property
    def restarts(self) -> list[bool]:
        return [bool(flag) for flag in self._rows.values("restart")]

    def start_over(self) -> None:
        """The process restarted: the next point begins a new segment."""
        self._starting_over = True

    def append(self, taken_at: float, values: dict[str, float]) -> None:
        restarted, self._starting_over = self._starting_over and len(self._rows) > 0, False
        self._rows.append({"time": taken_at, "restart": restarted}, values)

    def latest(self, name: str) -> float | None:
        value = self._rows.latest(name)
        return None if value is None or math.isnan(value) else float(value)

    def values(self, name: str) -> list[float]:
        return [v for v in self.columns.get(name, ()) if not math.isnan(v)]


@dataclass(slots=True)
class Observation:
    """One successful round of a target, parsed and reduced (off the event loop) to what the histories keep."""

    taken_at: float
    snapshot: GoroutineSnapshot | None
    values: dict[str, float]  # runtime series (memstats_series)
    build_id: str | None = None
    heap: HeapRow | None = None
    reload_heap: Reload | None = None  # gives the heap profile back (parsed again from its bytes) for leak paths
    heap_estimate: float | None = None  # the heap profile's inuse_space total (an estimate: sampled)
    notes: Sequence[str] = ()


@dataclass(slots=True)
class Flight:
    """The scrape of a target in progress (at most one: a target still busy skips rounds)."""

    task: asyncio.Task[Any]
    scraping: bool = True  # False once its result is being absorbed (analysis + store write: never cancelled)


@dataclass(slots=True)
class InstanceState:
    url: str
    service: str = ""
    max_snapshots: int = 120
    window: Window = field(init=False)
    heap: HeapHistory = field(init=False)
    series: SeriesBuffer = field(init=False)
    status: str = "pending"
    error: str | None = None
    rounds: int = 0
    failures: int = 0
    restarts: int = 0
    notes: list[str] = field(default_factory=list)
    extra_suspects: list[Suspect] = field(default_factory=list)  # heap / series findings from other analyses
    missed: int = 0  # rounds skipped because the previous scrape was still in flight
    absent: int = 0  # consecutive rounds discovery did not return it
    heap_estimate: float | None = None  # inuse_space total of the last heap profile
    flight: Flight | None = None
    departed: TargetReport | None = None  # its last verdict, once discovery dropped it (histories freed)
    detector: RestartDetector = field(default_factory=RestartDetector)
    fetched: Counter[str] = field(default_factory=Counter)  # what the adaptive plan fetched, by kind
    plan: tuple[str, ...] = ()  # why, in the last round
    proof: LeakProof | None = None  # the last leak profile's proof, applied to rounds that fetched none

    def __post_init__(self) -> None:
        self._histories(self.max_snapshots)

    def _histories(self, capacity: int) -> None:
        self.window = Window(capacity)
        self.heap = HeapHistory(capacity)
        self.series = SeriesBuffer(capacity)

    @property
    def process_start(self) -> float | None:
        return self.detector.process_start

    @property
    def build_id(self) -> str | None:
        return self.detector.build_id

    # ---- feeding ---------------------------------------------------------------------------------------------
    def fail(self, status: str, error: str | None) -> None:
        self.rounds += 1
        self.failures += 1
        self.status, self.error = status, error

    def planned(self, result: ScrapeResult) -> None:
        """Count what a round fetched (the heap with gc=1 apart) and keep why, when the adaptive plan chose it."""
        if not result.plan:
            return
        self.plan = tuple(result.plan)
        for fetched in result.fetched:
            self.fetched[fetched.kind] += 1
        if any(reason.startswith("heap?gc=1") for reason in result.plan):
            self.fetched["heap?gc=1"] += 1

    def observe(self, seen: Observation) -> bool:
        """Record one successful round; returns True when the process restarted since the last one."""
        self.rounds += 1
        self.status, self.error = "ok", None
        for note in seen.notes:
            if note not in self.notes:
                self.notes.append(note)
        max_id = seen.snapshot.max_goroutine_id if seen.snapshot is not None else None
        heap = seen.heap.lifetime if seen.heap is not None else None
        restarted = bool(self.detector.observe(Signals(seen.values, seen.build_id, heap, max_id)))
        if restarted:  # every history at once: they judge the same process
            self.restarts += 1
            self.window.start_over()
            self.heap.start_over()
            self.series.start_over()
            self.proof = None  # a new process: what was leaked is gone
        if seen.heap is not None:
            self.heap.add(seen.taken_at, seen.heap, reload=seen.reload_heap)
        if seen.heap_estimate is not None:
            self.heap_estimate = seen.heap_estimate
        if seen.snapshot is not None:
            proof = leak_proof(seen.snapshot)
            if proof is not None:
                self.proof = proof
            elif self.proof is not None:
                apply_proof(seen.snapshot, self.proof)
            self.window.add(seen.snapshot)
        self.series.append(seen.taken_at, seen.values)
        return restarted

    def depart(self, verdict: TargetReport, departed_at: str) -> None:
        """Discovery dropped it: keep its last verdict (marked with when) for the final report, free its history."""
        if verdict.instance is not None:
            verdict.instance = dataclasses.replace(verdict.instance, departed_at=departed_at)
        self.departed = verdict
        self._histories(0)

    # ---- judging ---------------------------------------------------------------------------------------------
    def latest(self, name: str) -> float | None:
        return self.series.latest(name)

    def latest_counts(self) -> dict[str, int]:
        return {key: counts[-1] for key, counts in self.window.counts.items() if counts and counts[-1]}

    def to_series(self) -> InstanceSeries | None:
        """The runtime series (goroutines, heap, RSS, GC…) for the series detectors; None before two rounds."""
        if len(self.series.times) < 2:
            return None
        values = {name: np.array(column, dtype=np.float64) for name, column in self.series.columns.items()}
        times = np.array(self.series.times, dtype=np.float64)  # copies: an exported buffer would pin the array
        restarts = self.series.restarts  # cut where the detector saw a restart, whatever signal told it
        return InstanceSeries(self.url, times, values, group=self.service or self.url, restarts=restarts)

    def report(
        self,
        peers: Sequence[InstanceState] = (),
        options: Options | None = None,
        source_lines: SourceLines | None = None,
        series_report: TargetReport | None = None,
    ) -> TargetReport:
        suspects: list[Suspect] = []
        if len(self.window):
            peer_counts = [p.latest_counts() for p in peers if len(p.window)]
            suspects, _ = evaluate(self.window, options=options, peers=peer_counts)
        heap_report = self.heap.report(self.url, source_lines=source_lines)
        series_suspects = series_report.suspects if series_report is not None else []
        stacks, goroutines = self.latest("stack_inuse"), self.latest("goroutines")
        stack_bytes = stacks / goroutines if stacks and goroutines else None
        suspects = attribute(
            suspects, heap_report.suspects, series_suspects, stack_bytes=stack_bytes, heap_profiled=self.heap.seen > 0
        )
        suspects.extend(self.extra_suspects)
        status = self.status if self.status != "pending" else "error"
        heap_inuse = self.latest("heap_inuse")
        # no runtime metric (pprof mounted without /metrics or /debug/vars): the heap profile's total, an estimate
        # from MemProfileRate sampling
        estimated = heap_inuse is None and self.heap_estimate is not None
        facts = InstanceFacts(
            service=self.service,
            goroutines=int(self.latest("goroutines") or 0),
            heap_inuse_bytes=self.heap_estimate if estimated else heap_inuse,
            heap_inuse_estimated=estimated,
            rss_bytes=self.latest("rss_bytes"),
            restarts=self.restarts,
            rounds=self.rounds,
            failed_rounds=self.failures,
            notes=tuple(self.notes),
            missed_rounds=self.missed,
            fetched=dict(self.fetched),
            plan=self.plan,
        )
        report = TargetReport(
            self.url,
            status,  # type: ignore[arg-type]
            len(self.window),
            self.error,
            suspects,
            instance=facts,
            heap=heap_report.heap,
            runtime=series_report.runtime if series_report is not None else None,
        )
        report.sort()
        return report


def observation(result: ScrapeResult, sample_index: str = "inuse_space") -> Observation:
    """What the histories keep of an ok scrape: the CPU-heavy part of absorbing it (bucketing a dump, finding heap
    sites), pure, so it runs in an analysis thread. The heap profile is kept as its fetched bytes and parsed again
    only if a suspect needs its leak paths."""
    snapshot = goroutine_snapshot(result)
    seen = Observation(
        result.taken_at, snapshot, memstats_series(result.memstats, snapshot.total if snapshot else None)
    )
    seen.notes = result.notes
    heap = result.heap
    if heap is not None:
        seen.heap = HeapRow.of(heap, sample_index)
        fetched = result.get("heap")
        seen.reload_heap = functools.partial(parse_pprof, fetched.data) if fetched is not None else None
        seen.heap_estimate = _inuse_space(heap)
        seen.build_id = (heap.mappings[0].build_id if heap.mappings else None) or None
    return seen


def _inuse_space(heap: Profile) -> float | None:
    for index, value_type in enumerate(heap.sample_types):
        if value_type.type == "inuse_space":
            return float(heap.totals()[index])
    return None
