"""What the series detectors share: options, a segment of an instance's series, findings, and the growth test.

``growth()`` is the shared growth test of ``analysis.evidence`` with the series family's rule: the series are gauges
(persistence on the smoothed series, at least a floor and 10%), discounted when the growth flattened out (warm-up, a
filling cache), gave back half its rise (sawtooth, bounded) or follows the load (down as well as up).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from leaksleuth.analysis import trend
from leaksleuth.analysis.evidence import Growth, GrowthRule, smooth
from leaksleuth.analysis.evidence import growth as shared_growth
from leaksleuth.model.report import SuspectKind

FloatArray = trend.FloatArray
MiB = float(1 << 20)
GC_OFF_GOAL = float(1 << 60)  # next_gc reads ~8.9e18 when the GC is disabled
NO_LIMIT = float(1 << 62)  # GOMEMLIMIT unset = math.MaxInt64
GC_RUNS_SHARE = 4 / 5  # the GC ran when at least this share of heap-goal samples is a real goal, not GC_OFF_GOAL


@dataclass(slots=True)
class Options:
    min_points: int = 8  # fewer points in a segment: no trend is judged
    min_relative_growth: float = 0.10  # growth below 10% of the starting level is noise
    min_heap_growth_bytes: float = 4 * MiB
    min_rss_growth_bytes: float = 8 * MiB
    min_goroutine_growth: float = 10
    persistence: float = 0.6  # fraction of steps that rise or hold
    forced_gc_seconds: float = 120.0  # the runtime forces a GC at least this often while the GC is enabled
    forecast_horizon_seconds: float = 7 * 86400
    baseline_ratio: float = 1.5
    peer_ratio: float = 2.0
    peer_min_others: int = 2
    peer_min_goroutines: float = 50
    peer_min_bytes: float = 32 * MiB

    def rule(self, floor: float) -> GrowthRule:
        """The shared growth test's parameters for a runtime series that grows by at least ``floor``."""
        return GrowthRule(floor, self.persistence, self.min_points, self.min_relative_growth, gauge=True)


@dataclass(slots=True)
class Segment:
    times: FloatArray
    values: dict[str, FloatArray]

    @property
    def points(self) -> int:
        return int(self.times.size)

    def finite(self, name: str) -> tuple[FloatArray, FloatArray] | None:
        column = self.values.get(name)
        if column is None:
            return None
        keep = np.isfinite(column)
        if int(keep.sum()) < 2:
            return None
        return self.times[keep], column[keep]


@dataclass(slots=True)
class Finding:
    kind: SuspectKind
    category: str
    weight: float
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    primary: bool = True

    def discounted(self, factor: float, why: str) -> Finding:
        return replace(self, weight=self.weight * factor, evidence={**self.evidence, "discount": why})


# ---- helpers ------------------------------------------------------------------------------------------------


def latest_level(segment: Segment, name: str) -> float | None:
    """The current level: median of the last 10% of points (at least 3), robust to one odd scrape."""
    found = segment.finite(name)
    if found is None:
        return None
    values = found[1]
    return float(np.median(values[-max(3, values.size // 10) :]))


def heap_signal(segment: Segment) -> tuple[str, FloatArray, FloatArray] | None:
    """The heap goal when the GC runs (steady between GCs), else heap in use."""
    goal = segment.finite("next_gc")
    if goal is not None and float(np.mean(goal[1] < GC_OFF_GOAL)) >= GC_RUNS_SHARE:
        keep = goal[1] < GC_OFF_GOAL
        return "next_gc", goal[0][keep], goal[1][keep]
    for name in ("heap_inuse", "heap_alloc"):
        found = segment.finite(name)
        if found is not None:
            return name, found[0], found[1]
    return None


def load_series(segment: Segment) -> FloatArray | None:
    """The load: an explicit ``load`` series, else the allocation rate (bytes/s from ``total_alloc``)."""
    explicit = segment.values.get("load")
    if explicit is not None and int(np.isfinite(explicit).sum()) >= 4:
        return explicit
    total = segment.values.get("total_alloc")
    if total is None or segment.points < 4:
        return None
    rate = np.full(segment.points, np.nan)
    rate[1:] = np.diff(total) / np.diff(segment.times)
    rate[0] = rate[1]
    return smooth(rate, 3)


def growth(
    times: FloatArray, values: FloatArray, *, floor: float, options: Options, load: FloatArray | None = None
) -> Growth | None:
    """The shared growth test (``analysis.evidence.growth``) with the series family's rule."""
    return shared_growth(times, values, options.rule(floor), load)


def aligned_load(segment: Segment, name: str) -> FloatArray | None:
    load = load_series(segment)
    column = segment.values.get(name)
    if load is None or column is None:
        return None
    return load[np.isfinite(column)]
