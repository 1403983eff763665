"""Robust trend statistics for short, noisy series (goroutine counts, per-site heap bytes, RSS).

Theil–Sen (median of pairwise slopes) ignores up to ~29% outliers; Mann–Kendall tests for a monotonic trend
without assuming linearity or normal noise. A leak is growth that is significant, persistent (most steps go up or
hold), and has not flattened out (the plateau test separates warm-up and bounded caches from leaks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_MAX_PAIRS_POINTS = 400  # above this, thin the series evenly before the O(n^2) pairwise statistics


@dataclass(frozen=True, slots=True)
class Trend:
    points: int
    slope: float  # units per second (Theil–Sen)
    intercept: float
    tau: float  # Kendall's tau in [-1, 1]
    p_value: float  # two-sided Mann–Kendall
    first: float  # fitted value at the first point
    last: float  # fitted value at the last point
    growth: float  # fitted last - fitted first
    relative_growth: float  # growth / max(|fitted first|, floor)
    rising_steps: float  # fraction of steps that rise or hold (persistence)
    recent_slope: float  # Theil–Sen slope over the last ~40% of the series
    plateaued: bool  # growth has stopped: recent slope small against the overall slope

    @property
    def significant(self) -> bool:
        return self.points >= 4 and self.p_value < 0.05 and self.slope > 0


def theil_sen(x: Sequence[float] | FloatArray, y: Sequence[float] | FloatArray) -> tuple[float, float]:
    """Median pairwise slope and the matching intercept (median of y - slope * x)."""
    xs, ys = _thin(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    if xs.size < 2:
        return 0.0, float(ys[0]) if ys.size else 0.0
    i, j = np.triu_indices(xs.size, k=1)
    dx = xs[j] - xs[i]
    keep = dx != 0
    if not np.any(keep):
        return 0.0, float(np.median(ys))
    slope = float(np.median((ys[j] - ys[i])[keep] / dx[keep]))
    intercept = float(np.median(ys - slope * xs))
    return slope, intercept


def fitted_growth(times: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray) -> float:
    """``analyze(times, values).growth`` alone: the Theil–Sen line's rise from the first to the last time."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return 0.0
    slope, intercept = theil_sen(t, values)
    return (intercept + slope * float(t[-1])) - (intercept + slope * float(t[0]))  # as analyze: last - first


def mann_kendall(y: Sequence[float] | FloatArray) -> tuple[float, float]:
    """(tau, two-sided p) of the Mann–Kendall trend test, with the tie correction."""
    (ys,) = _thin(np.asarray(y, dtype=np.float64))
    n = ys.size
    if n < 3:
        return 0.0, 1.0
    i, j = np.triu_indices(n, k=1)
    s = float(np.sign(ys[j] - ys[i]).sum())
    _, tie_counts = np.unique(ys, return_counts=True)
    tie_term = float(np.sum(tie_counts * (tie_counts - 1) * (2 * tie_counts + 5)))
    variance = (n * (n - 1) * (2 * n + 5) - tie_term) / 18.0
    if variance <= 0:
        return 0.0, 1.0
    z = (s - math.copysign(1.0, s)) / math.sqrt(variance) if s != 0 else 0.0
    p = math.erfc(abs(z) / math.sqrt(2.0))
    tau = s / (n * (n - 1) / 2.0)
    return tau, p


def analyze(
    times: Sequence[float] | FloatArray,
    values: Sequence[float] | FloatArray,
    *,
    floor: float = 1.0,
    noise: float = 0.0,
) -> Trend:
    """Trend of ``values`` over ``times`` (seconds). ``floor`` keeps relative growth sane near zero.

    ``noise`` is the measurement noise of one value (one standard deviation, e.g. heap-profile sampling error):
    a step down by less than that still counts as holding, and the plateau test compares the tail's rise with
    the series' total movement and the noise (see below). ``noise=0`` keeps the noise-free rules.
    """
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return Trend(0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, False)
    slope, intercept = theil_sen(t, v)
    tau, p = mann_kendall(v)
    first = intercept + slope * float(t[0])
    last = intercept + slope * float(t[-1])
    growth = last - first
    steps = np.diff(v)
    tolerance = max(floor * 0.01, noise, 1e-12)
    rising = float(np.mean(steps >= -tolerance)) if steps.size else 0.0
    tail = _tail_points(n)
    recent_slope = theil_sen(t[-tail:], v[-tail:])[0] if n >= 6 else slope
    plateaued = slope > 0 and recent_slope < 0.25 * slope
    if noise > 0 and n >= 6:
        # With known noise the tail is judged against how far the series moved, not against the overall
        # Theil–Sen slope: after a fill-then-hold, most point pairs lie in the flat part and drag that slope
        # down to near zero, so "recent < 25% of overall" stops telling a cache from a leak.
        plateaued = slope > 0 and tail_flattened(t, v, noise=noise, recent_slope=recent_slope)
    return Trend(
        points=n,
        slope=slope,
        intercept=intercept,
        tau=tau,
        p_value=p,
        first=first,
        last=last,
        growth=growth,
        relative_growth=growth / max(abs(first), floor),
        rising_steps=rising,
        recent_slope=recent_slope,
        plateaued=plateaued,
    )


def tail_flattened(
    times: FloatArray, values: FloatArray, *, noise: float = 0.0, recent_slope: float | None = None
) -> bool:
    """The last 40% rose by less than a fifth of the series' whole movement (and within ``noise``), after a
    movement big enough (ten noise widths) for that to be measurable. ``recent_slope``: the tail's Theil–Sen
    slope, if already known."""
    tail = _tail_points(values.size)
    if recent_slope is None:
        recent_slope = theil_sen(times[-tail:], values[-tail:])[0]
    moved = float(np.percentile(values, 90) - np.percentile(values, 10))
    tail_rise = recent_slope * float(times[-1] - times[-tail])
    return moved > 0 and moved >= 10.0 * noise and tail_rise < max(2.5 * noise, 0.2 * moved)


def _tail_points(points: int) -> int:
    """The recent part of a series that the plateau tests look at: the last 40%, at least 3 points."""
    return max(3, math.ceil(points * 0.4))


def _thin(*arrays: FloatArray) -> tuple[FloatArray, ...]:
    size = arrays[0].size
    if size <= _MAX_PAIRS_POINTS:
        return arrays
    keep = np.unique(np.linspace(0, size - 1, _MAX_PAIRS_POINTS).round().astype(np.int64))
    return tuple(a[keep] for a in arrays)
