"""What the series detectors share: options, a segment of an instance's series, findings, and the growth test.

``growth()`` is the one test every growth detector applies: Theil–Sen + Mann–Kendall on the segment (no restart
inside), persistent on the smoothed series, at least a floor and 10% — discounted when the growth flattened out
(warm-up, a filling cache), gave back half its rise (sawtooth, bounded) or follows the load (down as well as up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from leaksleuth.analysis import trend
from leaksleuth.model.report import SuspectKind

FloatArray = trend.FloatArray
MiB = float(1 << 20)
GC_OFF_GOAL = float(1 << 60)  # next_gc reads ~8.9e18 when the GC is disabled
NO_LIMIT = float(1 << 62)  # GOMEMLIMIT unset = math.MaxInt64


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
    if goal is not None and float(np.mean(goal[1] < GC_OFF_GOAL)) >= 0.8:
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


def follows_load(times: FloatArray, values: FloatArray, load: FloatArray | None) -> dict[str, float] | None:
    """Evidence that ``values`` moves with the load, down as well as up, and nothing grows beyond it.

    Rising together proves nothing (a per-request leak rises with traffic too), so the load must have fallen by a
    quarter of its range at some point, and what the load does not explain must not trend upward.
    """
    if load is None or load.size != values.size:
        return None
    keep = np.isfinite(load) & np.isfinite(values)
    if int(keep.sum()) < 8:
        return None
    t, v, x = times[keep], values[keep], load[keep]
    spread = float(x.max() - x.min())
    if spread <= 0 or drawdown(x) < 0.25 * spread:
        return None
    correlation = float(np.corrcoef(v, x)[0, 1])
    if not math.isfinite(correlation) or correlation < 0.7:
        return None
    slope, intercept = np.polyfit(x, v, 1)
    residual = trend.analyze(t, v - (slope * x + intercept), floor=1.0)
    if residual.significant and residual.growth > 0.25 * float(v.max() - v.min()):
        return None
    return {"correlation": round(correlation, 3)}


def smooth(values: FloatArray, window: int) -> FloatArray:
    if values.size < window:
        return values
    padded = np.pad(values, (window // 2, window - 1 - window // 2), mode="edge")
    return np.asarray(np.nanmedian(sliding_window_view(padded, window), axis=1), dtype=np.float64)


def drawdown(values: FloatArray) -> float:
    """Largest fall from a running peak: how much of its rise the series gave back at some point."""
    return float(np.max(np.maximum.accumulate(values) - values)) if values.size else 0.0


def window_points(points: int) -> int:
    return max(3, points // 15)


@dataclass(slots=True)
class Growth:
    fitted: trend.Trend
    weight: float
    evidence: dict[str, Any]


def growth(
    times: FloatArray, values: FloatArray, *, floor: float, options: Options, load: FloatArray | None = None
) -> Growth | None:
    """Significant, persistent growth of at least ``floor`` and 10%, weighted like goroutine growth; discounted
    when it flattened out (warm-up, a filling cache), gave back half its rise (sawtooth) or follows the load."""
    if values.size < options.min_points:
        return None
    if float(np.nanmax(values) - np.nanmin(values)) < floor:
        return None  # the series never moved by the minimum growth: skip the statistics (most of a fleet is flat)
    fitted = trend.analyze(times, values, floor=floor)
    # persistence on the smoothed series: scrape-to-scrape zigzag (GC sawtooth in a difference of two gauges)
    # is noise, while a level that keeps giving back ground is not a leak
    smoothed = smooth(values, window_points(values.size))
    rising = float(np.mean(np.diff(smoothed) >= -max(floor * 0.01, 1e-12)))
    evidence: dict[str, Any] = {
        "from": round(fitted.first, 3),
        "to": round(fitted.last, 3),
        "growth": round(fitted.growth, 3),
        "slope_per_second": float(f"{fitted.slope:.4g}"),
        "seconds": round(float(times[-1] - times[0]), 1),
        "points": int(values.size),
        "p_value": float(f"{fitted.p_value:.3g}"),
        "tau": round(fitted.tau, 3),
        "rising_steps": round(rising, 2),
        "plateaued": fitted.plateaued,
    }
    if (
        not fitted.significant
        or fitted.growth < floor
        or fitted.relative_growth < options.min_relative_growth
        or rising < options.persistence
    ):
        return None
    # the noise-free plateau test (recent slope < 25% of the overall slope) misses a short fill-then-hold, whose
    # point pairs mostly lie in the flat part and drag the overall slope down too: judge the tail's rise as well
    flattened_out = fitted.plateaued or trend.tail_flattened(times, smoothed)
    weight = trend.growth_weight(
        fitted.p_value, rising, fitted.relative_growth, persistence=options.persistence, plateaued=flattened_out
    )
    if flattened_out:
        evidence["discount"] = "growth has flattened out (warm-up or a bounded cache)"
    elif drawdown(smoothed) >= 0.5 * max(float(smoothed.max() - smoothed.min()), 1e-9):
        weight *= 0.3
        evidence["discount"] = "came back down by half its rise (sawtooth or bounded)"
    elif (followed := follows_load(times, values, load)) is not None:
        weight *= 0.3
        evidence["discount"] = "moves with the load, down as well as up"
        evidence["load"] = followed
    return Growth(fitted, weight, evidence)


def aligned_load(segment: Segment, name: str) -> FloatArray | None:
    load = load_series(segment)
    column = segment.values.get(name)
    if load is None or column is None:
        return None
    return load[np.isfinite(column)]
