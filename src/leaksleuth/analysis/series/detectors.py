"""Detectors over one segment of one instance's metric series (no restart inside a segment). Pure.

Growth detectors (primary evidence, weight >= SUSPECT_CONFIDENCE when they stand on their own):

- heap-growth: the heap goal (``next_gc``: twice the live heap after the last GC, so free of the GC sawtooth)
  grows significantly (Theil–Sen + Mann–Kendall), persistently, without flattening or coming back down.
- non-heap-growth: RSS minus heap in use minus goroutine stacks grows while the heap does not (cgo, mmap).
- rss-up-gc-stalled: RSS grows while no GC runs beyond the runtime's forced one every 2 minutes: the GC is off
  (``GOGC=off``), or the heap is past its goal, or the growth is outside the heap.
- goroutine-growth: the goroutine count grows the same way.
- step-growth: growth in 2–5 jumps with flat stretches between and no drop: something leaks per event.

Supporting evidence (never a suspect alone): above-baseline (now vs the P95 of a long window before), oom-forecast
(time until the container limit or GOMEMLIMIT at the current slope). Peers are compared in ``series``.

Quiet on purpose: warm-up (growth that flattened out), sawtooth and bounded caches (came back down), memory that
follows its load (correlates with a load series that went down as well as up, and nothing grows beyond it).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from leaksleuth.analysis import trend
from leaksleuth.analysis.evidence import EXPLAINS_ENOUGH, SUSPECT_CONFIDENCE, smooth, window_points
from leaksleuth.analysis.humanize import human_bytes, human_count, human_duration, human_rate, series_words
from leaksleuth.analysis.series.signals import (
    GC_OFF_GOAL,
    NO_LIMIT,
    Finding,
    FloatArray,
    Options,
    Segment,
    aligned_load,
    growth,
    heap_signal,
    latest_level,
)
from leaksleuth.model.report import SuspectKind

STEP_SHARE = 1 / 2  # one jump of step-growth is at least half the relative growth the whole must show
# oom-forecast's weight: 0.6 when the limit is less than an hour away, one step less past each further horizon
FORECAST_NEAREST_WEIGHT = 0.6
FORECAST_WEIGHT_STEP = 0.1
FORECAST_HORIZONS = (3600, 6 * 3600, 86400)

# ---- growth detectors -----------------------------------------------------------------------------------------


def heap_growth(segment: Segment, options: Options) -> Finding | None:
    signal = heap_signal(segment)
    if signal is None:
        return None
    name, times, values = signal
    found = growth(
        times, values, floor=options.min_heap_growth_bytes, options=options, load=aligned_load(segment, name)
    )
    if found is None:
        return None
    what = series_words(name)
    fitted = found.fitted
    summary = (
        f"{what} {human_bytes(fitted.first)} → {human_bytes(fitted.last)} (+{human_bytes(fitted.growth)}, "
        f"{human_rate(fitted.slope, bytes_=True)}) over {human_duration(float(times[-1] - times[0]))}"
    )
    return Finding("heap", "heap-growth", found.weight, summary, {"metric": name, "unit": "bytes", **found.evidence})


def non_heap_growth(segment: Segment, options: Options) -> Finding | None:
    rss, heap = segment.values.get("rss_bytes"), segment.values.get("heap_inuse")
    if rss is None or heap is None:
        return None
    stacks = segment.values.get("stack_inuse")
    outside = rss - heap - (np.nan_to_num(stacks) if stacks is not None else 0.0)
    keep = np.isfinite(outside)
    found = growth(segment.times[keep], outside[keep], floor=options.min_rss_growth_bytes, options=options)
    if found is None:
        return None
    signal = heap_signal(segment)
    heap_rise = _rise(signal[1], signal[2]) if signal else 0.0
    if heap_rise >= EXPLAINS_ENOUGH * found.fitted.growth:
        return None  # the heap grows too: heap-growth tells that story
    summary = (
        f"memory outside the Go heap +{human_bytes(found.fitted.growth)} "
        f"({human_rate(found.fitted.slope, bytes_=True)}) while the heap stayed flat "
        f"({human_bytes(heap_rise, signed=True)}): cgo, mmap or runtime memory"
    )
    evidence = {
        "metric": "rss_bytes - heap_inuse - stack_inuse",
        "unit": "bytes",
        "heap_growth": round(heap_rise),
        **found.evidence,
    }
    return Finding("heap", "non-heap-growth", min(found.weight, 0.9), summary, evidence)


def _rise(times: FloatArray, values: FloatArray) -> float:
    """How much the heap moved up: the fitted growth, or the change of level when a short ramp (a warm-up) is all
    there is, which the robust fit rightly ignores as a trend but which still explains memory moving elsewhere."""
    edge = max(3, values.size // 10)
    return max(trend.fitted_growth(times, values), float(np.median(values[-edge:]) - np.median(values[:edge])))


def gc_stalled(segment: Segment, options: Options) -> Finding | None:
    """RSS grows over a stretch with no GC beyond the forced one every 2 minutes."""
    gc, rss = segment.values.get("num_gc"), segment.values.get("rss_bytes")
    if gc is None or rss is None:
        return None
    keep = np.isfinite(gc) & np.isfinite(rss)
    times, cycles, resident = segment.times[keep], gc[keep], rss[keep]
    start = times.size - 1
    while (
        start > 0 and cycles[-1] - cycles[start - 1] <= 1 + (times[-1] - times[start - 1]) / options.forced_gc_seconds
    ):
        start -= 1
    found = growth(times[start:], resident[start:], floor=options.min_rss_growth_bytes, options=options)
    if found is None or found.weight < SUSPECT_CONFIDENCE:
        return None
    goal = latest_level(segment, "next_gc")
    heap = latest_level(segment, "heap_alloc") or latest_level(segment, "heap_inuse")
    rise, seconds = found.fitted.growth, float(times[-1] - times[start])
    ran = int(cycles[-1] - cycles[start])
    head = (
        f"RSS +{human_bytes(rise)} over {human_duration(seconds)} with {ran or 'no'} GC cycle{'s' if ran != 1 else ''}"
    )
    if goal is not None and goal >= GC_OFF_GOAL:
        cap, why = 0.9, "the GC is off (GOGC=off or debug.SetGCPercent(-1)): garbage is never collected"
    elif goal is not None and heap is not None and heap > 1.05 * goal:
        cap, why = 0.85, f"the heap ({human_bytes(heap)}) is past its goal ({human_bytes(goal)}) and no GC runs"
    else:
        signal = heap_signal(Segment(times[start:], {k: v[keep][start:] for k, v in segment.values.items()}))
        heap_rise = _rise(signal[1], signal[2]) if signal else 0.0
        if heap_rise >= EXPLAINS_ENOUGH * rise:
            return None  # the heap grows toward its goal between GCs: normal
        cap, why = 0.75, "the growth is outside the Go heap, so nothing triggers a GC (cgo, mmap)"
    evidence = {
        "metric": "rss_bytes",
        "unit": "bytes",
        "gc_cycles": ran,
        "next_gc": goal,
        "heap": heap,
        **found.evidence,
    }
    return Finding("heap", "rss-up-gc-stalled", min(found.weight, cap), f"{head}: {why}", evidence)


def goroutine_growth(segment: Segment, options: Options) -> Finding | None:
    found_series = segment.finite("goroutines")
    if found_series is None:
        return None
    times, counts = found_series
    found = growth(
        times, counts, floor=options.min_goroutine_growth, options=options, load=aligned_load(segment, "goroutines")
    )
    if found is None:
        return None
    fitted = found.fitted
    summary = (
        f"goroutines {human_count(fitted.first)} → {human_count(fitted.last)} (+{human_count(fitted.growth)}, "
        f"{human_rate(fitted.slope)}) over {human_duration(float(times[-1] - times[0]))}"
    )
    return Finding("goroutine", "goroutine-growth", found.weight, summary, {"metric": "goroutines", **found.evidence})


def step_growth(segment: Segment, options: Options) -> list[Finding]:
    """Growth in a few jumps with flat stretches between them and no drop: each jump is an event that leaked."""
    found = []
    goroutines = segment.finite("goroutines")
    candidates: list[tuple[SuspectKind, str, FloatArray, FloatArray, float]] = []
    if goroutines is not None:
        candidates.append(("goroutine", "goroutines", *goroutines, options.min_goroutine_growth))
    signal = heap_signal(segment)
    if signal is not None:
        candidates.append(("heap", signal[0], signal[1], signal[2], options.min_heap_growth_bytes))
    for kind, name, times, values, floor in candidates:
        steps = _steps(times, values, floor, options)
        if steps is None:
            continue
        unit = "bytes" if kind == "heap" else ""
        heights = ", ".join(human_bytes(h, signed=True) if unit else f"+{human_count(h)}" for _, h in steps)
        summary = f"{series_words(name)} grew in {len(steps)} steps ({heights}) and never came back down"
        evidence = {"metric": name, "unit": unit, "steps": [{"at": at, "height": round(h, 3)} for at, h in steps]}
        found.append(Finding(kind, "step-growth", min(0.75, 0.55 + 0.05 * (len(steps) - 2)), summary, evidence))
    return found


def _steps(times: FloatArray, values: FloatArray, floor: float, options: Options) -> list[tuple[float, float]] | None:
    n = values.size
    w = window_points(n)
    if n < max(4 * w, options.min_points):
        return None
    windows = sliding_window_view(values, w)
    medians = np.median(windows, axis=1)
    jumps = medians[w:] - medians[: n - 2 * w + 1]  # jumps[k]: level after point k+w minus level before it
    noise = 1.4826 * float(np.median(np.abs(values - smooth(values, w))))
    threshold = max(floor, 6 * noise, options.min_relative_growth * STEP_SHARE * float(np.median(np.abs(values))))
    warm_up_end = times[0] + 0.15 * (times[-1] - times[0])
    order = np.argsort(-np.abs(jumps))
    taken: list[int] = []
    for k in order.tolist():
        if abs(jumps[k]) < threshold:
            break
        if all(abs(k - other) >= w for other in taken):
            taken.append(k)
    ups = sorted(_split(values, k, w) for k in taken if jumps[k] > 0 and times[k + w] > warm_up_end)
    downs = [k for k in taken if jumps[k] < 0]
    if downs or not 2 <= len(ups) <= 5:
        return None
    bounds = [0, *ups, n]
    levels = np.concatenate([np.full(b - a, np.median(values[a:b])) for a, b in itertools.pairwise(bounds)])
    heights = [
        float(np.median(values[b:c]) - np.median(values[a:b]))
        for a, b, c in zip(bounds, bounds[1:], bounds[2:], strict=False)
    ]
    total = sum(heights)
    drift = trend.analyze(times, values - levels, floor=floor)
    if drift.significant and drift.growth > 0.25 * total:
        return None  # a slope with noise, not steps
    for a, b in itertools.pairwise(bounds):
        if b - a >= 3 and trend.theil_sen(times[a:b], values[a:b])[0] * (times[b - 1] - times[a]) > 0.25 * min(heights):
            return None  # it climbs between the jumps too: a ramp cut into pieces, not steps
    first_level = float(np.median(values[: ups[0]]))
    if total < floor or total < options.min_relative_growth * max(abs(first_level), floor):
        return None
    return [(float(times[index]), height) for index, height in zip(ups, heights, strict=True)]


def _split(values: FloatArray, k: int, w: int) -> int:
    """Where exactly the jump around ``k + w`` is: the score above is flat within half a window of a clean step,
    so take the split of ``values[k : k + 2w]`` that leaves the least squared error on either side."""
    piece = values[k : k + 2 * w]
    costs = [float(np.var(piece[:j]) * j + np.var(piece[j:]) * (piece.size - j)) for j in range(1, piece.size)]
    return k + 1 + int(np.argmin(costs))


# ---- supporting evidence ------------------------------------------------------------------------------------


def limit_forecast(segment: Segment, options: Options) -> Finding | None:
    """At the current slope, when memory reaches the container limit (else GOMEMLIMIT)."""
    name = "container_working_set_bytes" if segment.finite("container_working_set_bytes") else "rss_bytes"
    memory = segment.finite(name)
    limit, source = latest_level(segment, "container_limit_bytes"), "container memory limit"
    if limit is None or not 0 < limit < GC_OFF_GOAL:
        limit, source = latest_level(segment, "gomemlimit_bytes"), "GOMEMLIMIT"
    if memory is None or limit is None or not 0 < limit < NO_LIMIT:
        return None
    found = growth(memory[0], memory[1], floor=options.min_rss_growth_bytes, options=options)
    if found is None or found.weight < SUSPECT_CONFIDENCE or found.fitted.slope <= 0:
        return None
    now = float(memory[1][-1])
    seconds = max(0.0, (limit - found.fitted.last) / found.fitted.slope)
    if seconds > options.forecast_horizon_seconds:
        return None
    weight = round(FORECAST_NEAREST_WEIGHT - FORECAST_WEIGHT_STEP * sum(seconds > h for h in FORECAST_HORIZONS), 1)
    summary = (
        f"reaches the {source} ({human_bytes(limit)}) in ~{human_duration(seconds)} at "
        f"{human_rate(found.fitted.slope, bytes_=True)} ({now / limit:.0%} used)"
    )
    evidence = {
        "metric": name,
        "limit_bytes": limit,
        "limit_source": source,
        "seconds_to_limit": round(seconds),
        "used": round(now / limit, 3),
    }
    return Finding("heap", "oom-forecast", weight, summary, evidence, primary=False)


def baseline_exceeded(segment: Segment, baselines: Mapping[str, float], options: Options) -> list[Finding]:
    """Now against the P95 of a long window before (the dynamic baseline), per kind the strongest."""
    best: dict[str, Finding] = {}
    checks: tuple[tuple[SuspectKind, str, float], ...] = (
        ("goroutine", "goroutines", options.min_goroutine_growth),
        ("heap", "heap_inuse", options.min_heap_growth_bytes),
        ("heap", "rss_bytes", options.min_rss_growth_bytes),
        ("heap", "container_working_set_bytes", options.min_rss_growth_bytes),
    )
    for kind, name, floor in checks:
        p95, now = baselines.get(name), latest_level(segment, name)
        if p95 is None or now is None or p95 <= 0 or now < options.baseline_ratio * p95 or now - p95 < floor:
            continue
        ratio = now / p95
        shown = human_bytes(now) if kind == "heap" else human_count(now)
        finding = Finding(
            kind,
            "above-baseline",
            0.4 if ratio >= 3 else 0.3,
            f"{series_words(name)} {shown} is {ratio:.1f}x its P95 over the baseline window",
            {"metric": name, "value": now, "baseline_p95": p95},
            primary=False,
        )
        if kind not in best or finding.weight > best[kind].weight:
            best[kind] = finding
    return list(best.values())
