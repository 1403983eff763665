"""What leaksleuth knows about one running instance over a watch: bounded history and its live verdict.

Pure: the watcher feeds it parsed observations (goroutine snapshot, MemStats, heap profile) and asks for a
``TargetReport``. Restarts (a new process start time, a counter reset, a new build id) cut the history, so a
restarted process is judged on its own.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from leaksleuth.analysis.attribution import attribute
from leaksleuth.analysis.goroutines.buckets import GoroutineSnapshot, Window
from leaksleuth.analysis.goroutines.verdict import Options, evaluate
from leaksleuth.analysis.heap.sites import Site
from leaksleuth.analysis.heap.trend import HeapHistory, SiteKey
from leaksleuth.analysis.series.fleet import COUNTERS, PROCESS_START, InstanceSeries, started_over
from leaksleuth.model.report import Suspect, TargetReport

if TYPE_CHECKING:
    from leaksleuth.analysis.heap.sites import SourceLines
    from leaksleuth.model.profile import Int64Array, Profile


class SeriesBuffer:
    """The runtime series of one instance: one shared time column and one float column per name (NaN = not reported
    that round), bounded. Arrays of doubles, not lists of tuples: 16 bytes a point instead of ~100."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.times = array("d")
        self.columns: dict[str, array[float]] = {}

    def append(self, taken_at: float, values: dict[str, float]) -> None:
        before = len(self.times)
        self.times.append(taken_at)
        for name, column in self.columns.items():
            column.append(values.get(name, math.nan))
        for name, value in values.items():
            if name not in self.columns:
                self.columns[name] = array("d", [math.nan] * before + [value])
        if len(self.times) > self.capacity:
            del self.times[0]
            for column in self.columns.values():
                del column[0]

    def latest(self, name: str) -> float | None:
        column = self.columns.get(name)
        if not column or math.isnan(column[-1]):
            return None
        return column[-1]

    def values(self, name: str) -> list[float]:
        return [v for v in self.columns.get(name, ()) if not math.isnan(v)]


_INT32 = (-(1 << 31), (1 << 31) - 1)


class SiteColumns:
    """The rows of a ``HeapHistory`` (in-use bytes per site, one row per snapshot), kept column-wise.

    At steady state the per-snapshot site rows are most of a watched instance's memory, and most of a row is zeros:
    sites whose objects are all freed (a Go heap profile keeps them) and sites seen in other snapshots. Here a site
    that holds nothing in the whole window costs nothing, and a column is int32 until a value needs more (a site
    holding over 2 GiB). The values read back are exactly the ones appended. It offers what HeapHistory does with
    its list of rows: append a row, drop the oldest, count, and iterate the rows in order.
    """

    def __init__(self) -> None:
        self.length = 0
        self.width = 0  # the widest row appended: rows read back are all this wide
        self.columns: dict[int, array[int]] = {}

    def append(self, row: Int64Array) -> None:
        self.length += 1
        self.width = max(self.width, int(row.size))
        for known in self.columns.values():
            known.append(0)
        for index, value in zip(np.flatnonzero(row).tolist(), row[row != 0].tolist(), strict=True):
            column = self.columns.get(index)
            if column is None:  # zeros until now
                column = array("i", bytes(4 * self.length))
            if column.typecode == "i" and not _INT32[0] <= value <= _INT32[1]:
                column = array("q", column)
            self.columns[index] = column
            column[-1] = value

    def __delitem__(self, index: int) -> None:
        if index != 0:
            raise IndexError("a history only drops its oldest row")
        self.length -= 1
        for key, column in list(self.columns.items()):
            del column[0]
            if not any(column):
                del self.columns[key]

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Int64Array]:
        matrix = np.zeros((self.length, self.width), dtype=np.int64)
        for index, column in self.columns.items():
            matrix[:, index] = column
        return iter(matrix)


class _Packed:
    """An attribute that is assigned lists (``HeapHistory`` starts and restarts its series with ``[]``) and keeps
    them as an array of one C type: 8 bytes a number instead of a pointer to a Python object."""

    def __init__(self, typecode: str) -> None:
        self.typecode = typecode
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = f"_{name}"

    def __get__(self, instance: object, owner: type | None = None) -> array[Any]:
        packed: array[Any] = getattr(instance, self.name)
        return packed

    def __set__(self, instance: object, values: Sequence[Any]) -> None:
        setattr(instance, self.name, array(self.typecode, values))


class CompactHeapHistory(HeapHistory):
    """A ``HeapHistory`` whose rows are ``SiteColumns``, whose time and total columns are arrays of 8-byte numbers
    instead of lists of Python objects, and whose site names are interned, so every instance of a service shares
    them. The analysis reads the same numbers."""

    times = _Packed("d")  # type: ignore[assignment]
    totals = _Packed("q")  # type: ignore[assignment]

    @property  # type: ignore[override]
    def rows(self) -> SiteColumns:
        return self._rows

    @rows.setter
    def rows(self, rows: Sequence[Int64Array]) -> None:
        self._rows = SiteColumns()
        for row in rows:
            self._rows.append(row)

    def add(self, taken_at: float, profile: Profile, *, raw: bytes | None = None, restarted: bool = False) -> bool:
        known = len(self.sites)
        restarted = super().add(taken_at, profile, raw=raw, restarted=restarted)
        if restarted:  # a new series: every site is new
            known = 0
            self.columns = {}
        for index in range(known, len(self.sites)):  # new sites: share them, so the profile's own strings can go
            site, key = _shared_site(self.sites[index])
            self.sites[index] = site
            self.columns.pop(key, None)  # an equal key stays in a dict: drop the profile's own, keep the shared one
            self.columns[key] = index
        return restarted


_SHARED_SITES: dict[tuple[str, str, int, bool], tuple[Site, SiteKey]] = {}
_MAX_SHARED_SITES = 1 << 16  # a fleet's code has far fewer; past this, sites are only interned


def _shared_site(site: Site) -> tuple[Site, SiteKey]:
    """One ``Site`` and one column key per allocation site for the whole process: every instance of a service
    allocates at the same sites. Only a dict of small immutable objects, bounded; new entries stop at the bound."""
    identity = (site.function, site.file, site.line, site.user_code)
    shared = _SHARED_SITES.get(identity)
    if shared is None:
        site = Site(sys.intern(site.function), sys.intern(site.file), site.line, site.user_code)
        shared = (site, (site.function, site.file, site.line))
        if len(_SHARED_SITES) < _MAX_SHARED_SITES:
            _SHARED_SITES[identity] = shared
    return shared


class CompactWindow(Window):
    """A goroutine ``Window`` with int32 counts (a process cannot hold 2**31 goroutines) and interned bucket keys,
    shared by every instance running the same code."""

    def add(self, snapshot: GoroutineSnapshot, *, restarted: bool = False) -> None:
        for bucket in snapshot.buckets.values():
            bucket.key = sys.intern(bucket.key)
        super().add(snapshot, restarted=restarted)
        for key, counts in self.counts.items():
            if counts.typecode != "i":  # a key first seen in this snapshot
                self.counts[key] = array("i", counts)


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
    process_start: float | None = None
    build_id: str | None = None
    extra_suspects: list[Suspect] = field(default_factory=list)  # heap / series findings from other analyses

    def __post_init__(self) -> None:
        self.window = CompactWindow(self.max_snapshots)
        self.heap = CompactHeapHistory(self.max_snapshots)
        self.series = SeriesBuffer(self.max_snapshots)

    # ---- feeding ---------------------------------------------------------------------------------------------
    def fail(self, status: str, error: str | None) -> None:
        self.rounds += 1
        self.failures += 1
        self.status, self.error = status, error

    def observe(
        self,
        taken_at: float,
        snapshot: GoroutineSnapshot | None,
        values: dict[str, float],
        *,
        build_id: str | None = None,
        heap: Profile | None = None,
        heap_raw: bytes | None = None,
        notes: Sequence[str] = (),
    ) -> bool:
        """Record one successful round; returns True when the process restarted since the last one."""
        self.rounds += 1
        self.status, self.error = "ok", None
        for note in notes:
            if note not in self.notes:
                self.notes.append(note)
        restarted = self._restarted(values, build_id)
        if restarted:
            self.restarts += 1
        if heap is not None:
            restarted = self.heap.add(taken_at, heap, raw=heap_raw, restarted=restarted) or restarted
        if snapshot is not None:
            self.window.add(snapshot, restarted=restarted)
        self.series.append(taken_at, values)
        return restarted

    def _restarted(self, values: dict[str, float], build_id: str | None) -> bool:
        restarted = False
        start = values.get(PROCESS_START)
        if start is not None:
            restarted = self.process_start is not None and started_over(PROCESS_START, self.process_start, start)
            self.process_start = start
        for counter in COUNTERS:
            previous = self.series.latest(counter)
            if previous is not None and counter in values and started_over(counter, previous, values[counter]):
                restarted = True
        if build_id:
            if self.build_id is not None and build_id != self.build_id:
                restarted = True
            self.build_id = build_id
        return restarted

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
        return InstanceSeries(self.url, times, values, group=self.service or self.url)

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
        extra: dict[str, Any] = {
            "service": self.service,
            "goroutines": int(self.latest("goroutines") or 0),
            "heap_inuse_bytes": self.latest("heap_inuse"),
            "rss_bytes": self.latest("rss_bytes"),
            "restarts": self.restarts,
            "rounds": self.rounds,
            "failed_rounds": self.failures,
            "notes": self.notes,
        }
        if "heap" in heap_report.extra:
            extra["heap"] = heap_report.extra["heap"]
        report = TargetReport(self.url, status, len(self.window), self.error, suspects, extra)  # type: ignore[arg-type]
        report.sort()
        return report
