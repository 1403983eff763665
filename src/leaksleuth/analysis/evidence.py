"""Evidence and how it is weighed: what the goroutine, heap and series families share.

- ``Evidence``: one signal behind a suspect (kind, weight in [0, 1], detail for the report);
- ``fuse``: the noisy-OR that turns independent signals into one confidence;
- ``growth``: the one growth test (Theil–Sen + Mann–Kendall on one process' segment, persistence, flattening,
  drawdown, the noise floor, the load discount) with its parameters per family in a ``GrowthRule``;
- ``follows_load``: the one definition of "moves with the load, down as well as up".

The confidence levels themselves (report threshold, suspect, leaking) are named once in ``model.report``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leaksleuth.model.verdict import LEAKING_CONFIDENCE, REPORT_THRESHOLD, SUSPECT_CONFIDENCE, Verdict

__all__ = [
    "EXPLAINS_ENOUGH",
    "HINT_CEILING",
    "LEAKING_CONFIDENCE",
    "REPORT_THRESHOLD",
    "SUSPECT_CONFIDENCE",
    "Evidence",
    "Growth",
    "GrowthRule",
    "Verdict",
    "follows_load",
    "fuse",
    "growth",
    "held_fraction",
]

if TYPE_CHECKING:  # numpy only where growth is judged: one dump's verdict (inspect, goroutines FILE) never needs it
    from leaksleuth.analysis import trend
    from leaksleuth.analysis.trend import FloatArray
PLATEAU_DISCOUNT = 0.3  # growth that flattened out is warm-up or a bounded cache far more often than a leak
BOUNCE_DISCOUNT = 0.3  # growth that gave back half its rise: a sawtooth or a bounded structure
LOAD_DISCOUNT = 0.3  # growth that moves with the load, down as well as up
BOUNCE_SHARE = 1 / 2  # a gauge that gave back this share of its rise is a sawtooth or bounded, not a leak
# a cause explains a growth when it accounts for at least this share of it (a heap site a series finding, the heap
# an RSS rise): the finding then belongs to that cause
EXPLAINS_ENOUGH = 1 / 2
# evidence that does not stand on its own (no growth test passed, a by-design park) stays a hint, just below a suspect
HINT_CEILING = SUSPECT_CONFIDENCE - 0.05


@dataclass(slots=True)
class Evidence:
    kind: str  # "runtime-proven", "growth", "long-wait", "signature", "peer-outlier", …
    weight: float
    detail: dict[str, Any] = field(default_factory=dict)


def fuse(weights: Sequence[float]) -> float:
    """Noisy-OR: independent signals reinforce each other; never exceeds 1."""
    miss = 1.0
    for weight in weights:
        miss *= 1.0 - max(0.0, min(1.0, weight))
    return 1.0 - miss


@dataclass(frozen=True, slots=True)
class GrowthRule:
    """How one family judges growth with the shared test.

    ``gauge``: the series is a gauge sampled between GCs (heap, RSS, a metric's goroutine count): persistence is
    judged on the smoothed series (scrape-to-scrape zigzag is noise), flattening also by the tail's rise, and a
    series that gave back half its rise is discounted. A plain count (a goroutine bucket) is judged step by step and
    must end at least ``floor`` above its low.

    ``noise``: the measurement noise of one value (one standard deviation: a heap profile's sampling error). A step
    down by less than that still holds, the plateau test judges the tail against it, growth must clear
    ``noise_floor`` noise widths, and a series that already sat at its final level (within two noise widths) for
    more than ``held_limit`` of the span has flattened (a cache that filled, then held).
    """

    floor: float  # the smallest growth that counts (goroutines, bytes)
    persistence: float = 0.6  # share of steps that rise or hold
    min_points: int = 4
    min_relative: float = 0.0  # growth below this share of the starting level is noise
    gauge: bool = False
    noise: float = 0.0
    noise_floor: float = 0.0  # growth must exceed this many noise widths
    held_limit: float | None = None  # flattened when held at the final level for more than this share of the span

    @property
    def least(self) -> float:
        """The smallest growth that passes: the floor, or the noise floor when that is higher."""
        return max(self.floor, self.noise_floor * self.noise)


@dataclass(slots=True)
class Growth:
    fitted: trend.Trend
    rising: float  # share of steps that rise or hold (on the smoothed series for gauges)
    weight: float
    evidence: dict[str, Any]
    held: float = 0.0  # share of the span already at the final level (judged only with a ``held_limit``)


def growth(times: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray, rule: GrowthRule,
           load: FloatArray | None = None) -> Growth | None:  # fmt: skip
    """Significant, persistent growth of at least ``rule.floor``: its evidence weight (``SUSPECT_CONFIDENCE`` for a
    bare pass, up to 0.95), discounted when it flattened out (warm-up, a filling cache), gave back half its rise
    (gauges) or follows the ``load`` (aligned to ``values``). None when it does not pass."""
    import numpy as np

    from leaksleuth.analysis import trend

    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.size < rule.min_points:
        return None
    least = rule.least
    moved = float(np.nanmax(v) - np.nanmin(v)) if rule.gauge else float(v[-1] - v.min())
    if moved < least:
        return None  # cannot have grown enough: skip the O(n^2) statistics (most of a fleet is flat)
    fitted = trend.analyze(t, v, floor=max(rule.floor, 1.0), noise=rule.noise)
    smoothed = smooth(v, window_points(v.size)) if rule.gauge else v
    rising = float(np.mean(np.diff(smoothed) >= -max(rule.floor * 0.01, 1e-12))) if rule.gauge else fitted.rising_steps
    evidence: dict[str, Any] = {
        "from": round(fitted.first, 3),
        "to": round(fitted.last, 3),
        "growth": round(fitted.growth, 3),
        "slope_per_second": float(f"{fitted.slope:.4g}"),
        "seconds": round(float(t[-1] - t[0]), 1),
        "points": int(v.size),
        "p_value": float(f"{fitted.p_value:.3g}"),
        "tau": round(fitted.tau, 3),
        "rising_steps": round(rising, 2),
        "plateaued": fitted.plateaued,
    }
    if (
        not fitted.significant
        or fitted.growth < least
        or fitted.relative_growth < rule.min_relative
        or rising < rule.persistence
    ):
        return None
    # the noise-free plateau test (recent slope < 25% of the overall slope) misses a short fill-then-hold, whose
    # point pairs mostly lie in the flat part and drag the overall slope down too: for gauges judge the tail too
    flattened = fitted.plateaued or (rule.gauge and trend.tail_flattened(t, smoothed))
    held = held_fraction(t, v, rule.noise) if rule.held_limit is not None else 0.0
    flattened = flattened or (rule.held_limit is not None and held > rule.held_limit)
    weight = growth_weight(fitted.p_value, rising, fitted.relative_growth, persistence=rule.persistence)
    discounts = []
    if flattened:
        weight *= PLATEAU_DISCOUNT
        discounts.append("growth has flattened out (warm-up or a bounded cache)")
    if rule.gauge and drawdown(smoothed) >= BOUNCE_SHARE * max(float(smoothed.max() - smoothed.min()), 1e-9):
        weight *= BOUNCE_DISCOUNT
        discounts.append("came back down by half its rise (sawtooth or bounded)")
    if (followed := follows_load(t, v, load)) is not None:
        weight *= LOAD_DISCOUNT
        discounts.append("moves with the load, down as well as up")
        evidence["load"] = followed
    if discounts:
        evidence["discount"] = "; ".join(discounts)
    return Growth(fitted, rising, weight, evidence, held)


def held_fraction(times: FloatArray, values: FloatArray, noise: float) -> float:
    """Share of the span during which the series already sat at its final level (within two noise widths)."""
    import numpy as np

    final = float(np.median(values[-3:]))
    reached = np.flatnonzero(values >= final - 2.0 * noise)
    span = float(times[-1] - times[0])
    if reached.size == 0 or span <= 0:
        return 0.0
    return float(times[-1] - times[int(reached[0])]) / span


def growth_weight(p_value: float, rising_steps: float, relative_growth: float, *, persistence: float) -> float:
    """Evidence weight of growth that passed the significance, size and ``persistence`` tests:
    ``SUSPECT_CONFIDENCE`` for the bare pass, up to 0.95 with a tiny p-value, steps that nearly all rise or hold,
    and a doubling."""
    significance = min(1.0, max(0.0, (-math.log10(max(p_value, 1e-300)) - 1.3) / 2.0))
    persisted = max(0.0, (rising_steps - persistence) / (1 - persistence))
    magnitude = min(1.0, max(0.0, relative_growth))
    return min(0.95, SUSPECT_CONFIDENCE + 0.3 * significance + 0.1 * persisted + 0.1 * magnitude)


def follows_load(times: FloatArray, values: FloatArray, load: FloatArray | None) -> dict[str, float] | None:
    """Evidence that ``values`` moves with the load, down as well as up, and nothing grows beyond it.

    Rising together proves nothing (a per-request leak rises with traffic too), so the load must have fallen by a
    quarter of its range at some point, and what the load does not explain must not trend upward.
    """
    import numpy as np

    from leaksleuth.analysis import trend

    if load is None or load.size != values.size:
        return None
    keep = np.isfinite(load) & np.isfinite(values)
    if int(keep.sum()) < 8:
        return None
    t, v, x = times[keep], values[keep], load[keep]
    spread = float(x.max() - x.min())
    if spread <= 0 or drawdown(x) < 0.25 * spread or float(v.max() - v.min()) <= 0:
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
    """Running median over ``window`` points (edges padded), so one odd scrape or a GC sawtooth does not count."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    if values.size < window:
        return values
    padded = np.pad(values, (window // 2, window - 1 - window // 2), mode="edge")
    return np.asarray(np.nanmedian(sliding_window_view(padded, window), axis=1), dtype=np.float64)


def drawdown(values: FloatArray) -> float:
    """Largest fall from a running peak: how much of its rise the series gave back at some point."""
    import numpy as np

    return float(np.max(np.maximum.accumulate(values) - values)) if values.size else 0.0


def window_points(points: int) -> int:
    """The smoothing window for a series of ``points``: a fifteenth of it, at least 3."""
    return max(3, points // 15)
