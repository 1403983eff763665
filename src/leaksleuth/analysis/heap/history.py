"""The heap side of a long watch of one process: per snapshot only what the heap trend needs (``HeapRow``), kept
column-wise and bounded (``HeapHistory``); the first and latest profiles come back through loaders only when a
suspect needs its leak paths."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from leaksleuth.analysis.heap.sites import Site, SourceLines, shared_site
from leaksleuth.analysis.heap.trend import (
    DEFAULT_MEMPROFILERATE,
    Ends,
    SiteKey,
    SiteTrend,
    profile_sampling_rate,
    site_totals,
    trend_report,
    trend_sample_index,
    trends_of,
)
from leaksleuth.analysis.restarts import HeapLifetime
from leaksleuth.analysis.ring import RingColumns
from leaksleuth.model.profile import Profile
from leaksleuth.model.report import TargetReport


@dataclass(frozen=True, slots=True)
class HeapRow:
    """What a ``HeapHistory`` keeps of one heap profile, found without touching the history (so it can be worked
    out off the event loop): in-use per user allocation site, the total, and how the profile samples."""

    sites: dict[SiteKey, tuple[Site, int]]
    total: int
    index: int  # the sample index followed
    sample_type: str
    rate: int  # MemProfileRate
    lifetime: HeapLifetime

    @classmethod
    def of(cls, profile: Profile, sample_index: str = "inuse_space") -> HeapRow:
        index = trend_sample_index(profile, sample_index)
        return cls(
            site_totals(profile, index),
            int(profile.samples.values[:, index].sum()),
            index,
            profile.sample_types[index].type,
            profile_sampling_rate(profile),
            HeapLifetime.of(profile),
        )


Reload = Callable[[], Profile]  # gives a kept profile back (parsed again from its bytes by the caller's loader)


class HeapHistory:
    """The heap side of a long watch of one process, kept small and column-wise: per snapshot the in-use value of
    every site that holds anything in the window (one bounded column store: int32 until a site holds 2 GiB), plus
    the first and the latest profile as loaders the caller gives (``reload``: e.g. its compressed bytes and a
    parser), called only when a suspect needs leak paths and size/kind clusters.

    Restarts are the caller's to tell (``start_over``): one ``RestartDetector`` cuts every history of an instance
    at the same round. Site names are shared by every history of the process (one ``Site`` per line of code)."""

    def __init__(self, max_snapshots: int = 120, sample_index: str = "inuse_space") -> None:
        self.max_snapshots = max_snapshots
        self.sample_index = sample_index
        self.restarts = 0
        self.seen = 0
        self._start()
        self._sample_type = ""
        self._index = 0  # the sample index resolved on the latest profile
        self._rate = DEFAULT_MEMPROFILERATE

    def _start(self) -> None:
        self._rows = RingColumns[int](self.max_snapshots, {"time": "d", "total": "q"})  # keyed: site column
        self.columns: dict[SiteKey, int] = {}
        self.sites: list[Site] = []
        self.first: tuple[float, Reload] | None = None
        self.last: tuple[float, Reload] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def times(self) -> list[float]:
        return self._rows.values("time").tolist()

    @property
    def totals(self) -> list[int]:
        return [int(total) for total in self._rows.values("total")]

    def start_over(self) -> None:
        """The process restarted: a new series begins (the old one is freed)."""
        self.restarts += 1
        self._start()

    def add(self, taken_at: float, heap: Profile | HeapRow, *, reload: Reload | None = None) -> None:
        """Record a heap profile, or the ``HeapRow`` already found in one (then ``reload`` gives the profile back
        when leak paths need it; without it a profile is kept as it is)."""
        if isinstance(heap, HeapRow):
            if reload is None:
                raise ValueError("a HeapRow needs the loader of its profile")
            row = heap
        else:
            row = HeapRow.of(heap, self.sample_index)
            reload = reload or functools.partial(_same, heap)
        values: dict[int, int] = {}
        for key, (site, total) in row.sites.items():
            column = self.columns.get(key)
            if column is None:  # a new site: shared, so the profile's own strings can go
                shared, shared_key = shared_site(site)
                column = self.columns[shared_key] = len(self.sites)
                self.sites.append(shared)
            values[column] = total
        self._rows.append({"time": taken_at, "total": row.total}, values)
        kept = (taken_at, reload)
        self.first = self.first or kept
        self.last = kept
        self._index, self._sample_type, self._rate = row.index, row.sample_type, row.rate
        self.seen += 1

    def site_ends(self) -> list[tuple[Site, int, int]]:
        """Every site holding anything in the window: (site, in use in the oldest snapshot kept, in the newest)."""
        held = sorted(self._rows.columns.items())
        return [(self.sites[key], int(column[0]), int(column[-1])) for key, column in held]

    def trends(self) -> list[SiteTrend]:
        """A trend per site that held anything in the window, most confident first (a site holding nothing has
        none: it cannot have grown)."""
        if len(self._rows) < 2:
            return []
        held = sorted(self._rows.columns)
        matrix = self._rows.matrix(held)
        return trends_of([self.sites[c] for c in held], matrix, np.asarray(self.times, dtype=np.float64), self._rate)

    def report(self, target: str, *, source_lines: SourceLines | None = None, max_suspects: int = 5) -> TargetReport:
        if self.last is None or self.first is None:
            return TargetReport(target=target, snapshots=0)
        (first_time, first), (last_time, last) = self.first, self.last
        ends = Ends(first_time, last_time, lambda: (first(), last()), self._sample_type, self._rate)
        return trend_report(
            target,
            self.seen,
            self.trends(),
            ends,
            self._index,
            self.restarts,
            self.totals,
            len(self._rows),
            source_lines,
            max_suspects,
        )


def _same(profile: Profile) -> Profile:
    return profile
