"""Heap leaks across time: per-site in-use series over many snapshots of one process, turned into suspects.

For every user allocation site the in-use bytes form a series; a leak is a series that passes the shared growth
test (``analysis.evidence.growth``: Mann–Kendall significance, most steps rise or hold, not flattened) with the heap
family's rule (``heap_rule``): clearly more than the profile's own sampling noise, and flattened also when it sat at
its final level for most of the span. Warm-up and bounded caches rise and then hold; GC churn has no trend.

* **Sampling noise.** A heap profile samples one allocation per ``MemProfileRate`` bytes (the profile's period) and
  scales it up, so a site holding B bytes of small objects is known to about ±sqrt(B·rate). Growth is judged
  against that, and sites that never reach a few sampling periods are ignored, so tiny sites do not flap.
* **Restarts.** ``alloc_space``/``alloc_objects`` count up for the life of a process: a drop (or another build id)
  means a restart (``analysis.restarts``), and only the newest run of snapshots is analysed.
* **In use only.** Because those counters only rise, a trend of them would call pure GC churn a leak: a trend
  follows ``inuse_space`` or ``inuse_objects`` (what the heap holds), and refuses the cumulative types.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from leaksleuth.analysis import trend as trend_stats
from leaksleuth.analysis.advice import advice_for
from leaksleuth.analysis.evidence import REPORT_THRESHOLD, Growth, GrowthRule, growth
from leaksleuth.analysis.heap.kinds import (
    GOROUTINE,
    GROWSLICE,
    MAKESLICE,
    MAP,
    NEWOBJECT,
    STRING_CONCAT,
    STRING_CONVERSION,
)
from leaksleuth.analysis.heap.paths import Cluster, LeakPath, clusters, leak_paths
from leaksleuth.analysis.heap.sites import Site, SiteAnnotation, SourceLines, annotate
from leaksleuth.analysis.heap.top import resolve_sample_index
from leaksleuth.analysis.humanize import human_bytes, human_duration, human_rate
from leaksleuth.analysis.restarts import HeapLifetime
from leaksleuth.analysis.segments import last_segment
from leaksleuth.analysis.trend import FloatArray
from leaksleuth.errors import ConfigError
from leaksleuth.model.heap_report import HeapSiteEvidence, HeapTrendFacts
from leaksleuth.model.profile import Int64Array, Profile
from leaksleuth.model.profile_ops import diff
from leaksleuth.model.report import Suspect, TargetReport

DEFAULT_MEMPROFILERATE = 512 * 1024
NOISE_WIDTHS = 3.0  # a site must grow by more than three standard deviations of its sampling noise
HELD_LIMIT = 0.5  # a site that sat at its final level for more than half the span filled, then held (a cache)


@dataclass(frozen=True, slots=True)
class HeapSnapshot:
    taken_at: float  # seconds since the epoch
    profile: Profile


@dataclass(frozen=True, slots=True)
class SiteTrend:
    site: Site
    values: list[int]
    trend: trend_stats.Trend
    noise: float  # one standard deviation of a value, from heap sampling
    held_fraction: float  # share of the time span spent already at the final level (a flat tail)
    confidence: float


def trend_sample_index(profile: Profile, name: str | int | None) -> int:
    """The sample type a trend follows (default ``inuse_space``): in-use only, never a lifetime counter."""
    index = resolve_sample_index(profile, "inuse_space" if name is None else name)
    sample_type = profile.sample_types[index].type
    if sample_type.startswith("alloc_"):
        in_use = sample_type.replace("alloc_", "inuse_", 1)
        raise ConfigError(
            f"heap trend cannot follow {sample_type}: it counts every allocation since the process started, so it "
            "rises even when the garbage collector frees everything",
            hint=f"a leak is what the heap holds: --sample-index {in_use} (allocation between two moments: "
            "heap diff --cumulative on two allocs profiles)",
        )
    return index


def profile_sampling_rate(profile: Profile) -> int:
    """MemProfileRate: the period of a heap profile (bytes between samples)."""
    if profile.period_type is not None and profile.period_type.unit == "bytes" and profile.period > 0:
        return profile.period
    return DEFAULT_MEMPROFILERATE


def restarts(snapshots: Sequence[HeapSnapshot]) -> list[bool]:
    """Per snapshot: did the process restart since the previous one? (lifetime counters went down, or new build)"""
    lifetimes = [HeapLifetime.of(snapshot.profile) for snapshot in snapshots]
    return [False] + [after.new_process_since(before) is not None for before, after in itertools.pairwise(lifetimes)]


SiteKey = tuple[str, str, int]


def site_totals(
    profile: Profile, index: int, annotation: SiteAnnotation | None = None
) -> dict[SiteKey, tuple[Site, int]]:
    """In-use value per user allocation site of one profile (function, file, line); ``annotation``: its sites, if
    already found."""
    annotation = annotation or annotate(profile)
    values = profile.samples.values[:, index]
    has_site = annotation.site_ids >= 0
    sums = np.bincount(annotation.site_ids[has_site], weights=values[has_site], minlength=len(annotation.sites))
    totals: dict[SiteKey, tuple[Site, int]] = {}
    for found, total in zip(annotation.sites, sums.tolist(), strict=True):
        key = (found.function, found.file, found.line)
        previous = totals.get(key)
        # the same line reached as user code elsewhere is user code
        site = previous[0] if previous is not None and previous[0].user_code else found
        totals[key] = (site, (previous[1] if previous else 0) + round(total))
    return totals


def _matrix(rows: Sequence[dict[SiteKey, tuple[Site, int]]]) -> tuple[list[Site], Int64Array]:
    keys: dict[SiteKey, int] = {}
    sites: list[Site] = []
    for row in rows:
        for key, (site, _) in row.items():
            if key not in keys:
                keys[key] = len(sites)
                sites.append(site)
    matrix = np.zeros((len(rows), len(sites)), dtype=np.int64)
    for row_index, row in enumerate(rows):
        for key, (_, total) in row.items():
            matrix[row_index, keys[key]] = total
    return sites, matrix


def site_series(
    snapshots: Sequence[HeapSnapshot], index: int, *, last_annotation: SiteAnnotation | None = None
) -> tuple[list[Site], Int64Array]:
    """In-use value per (snapshot, site): sites keyed by function, file and line across snapshots.
    ``last_annotation``: the sites of the latest snapshot, if already found."""
    last = len(snapshots) - 1
    return _matrix(
        [
            site_totals(snapshot.profile, index, last_annotation if position == last else None)
            for position, snapshot in enumerate(snapshots)
        ]
    )


def heap_rule(noise: float, rate: float = 1.0) -> GrowthRule:
    """The shared growth test's parameters for a site whose values are known to ``noise`` (one standard deviation
    of heap sampling), sampled every ``rate`` bytes: growth of at least one period and ``NOISE_WIDTHS`` noise
    widths, steps within the noise hold, and flattened when held at the final level past ``HELD_LIMIT``."""
    return GrowthRule(rate, min_points=3, noise=noise, noise_floor=NOISE_WIDTHS, held_limit=HELD_LIMIT)


def site_growth(times: FloatArray, values: FloatArray, noise: float, rate: float = 1.0) -> Growth | None:
    """The shared growth test on one site's series (None: it did not grow past its noise)."""
    return growth(times, values, heap_rule(noise, rate))


def site_trends(
    snapshots: Sequence[HeapSnapshot], index: int, *, last_annotation: SiteAnnotation | None = None
) -> list[SiteTrend]:
    """A trend per site over ``snapshots`` (one process, in time order), most confident first."""
    if len(snapshots) < 2:
        return []
    sites, matrix = site_series(snapshots, index, last_annotation=last_annotation)
    times = np.array([s.taken_at for s in snapshots], dtype=np.float64)
    return trends_of(sites, matrix, times, max(profile_sampling_rate(s.profile) for s in snapshots))


def trends_of(sites: Sequence[Site], matrix: Int64Array, times: FloatArray, rate: int) -> list[SiteTrend]:
    found = []
    for column, site in enumerate(sites):
        values = matrix[:, column].astype(np.float64)
        peak = float(values.max())
        if peak < 4 * rate:  # a few sampling periods at most: pure sampling noise
            continue
        noise = math.sqrt(peak * rate)
        grown = site_growth(times, values, noise, rate)
        if grown is not None:
            weight = round(grown.weight, 3)
            found.append(SiteTrend(site, matrix[:, column].tolist(), grown.fitted, noise, grown.held, weight))
    found.sort(key=lambda s: (-s.confidence, -s.trend.growth))
    return found


def heap_trend_report(
    snapshots: Sequence[HeapSnapshot],
    *,
    target: str,
    sample_index: str | int | None = "inuse_space",
    source_lines: SourceLines | None = None,
    max_suspects: int = 5,
) -> TargetReport:
    """The ``leaksleuth/report@1`` target entry for a series of heap snapshots of one process."""
    if not snapshots:
        return TargetReport(target=target, snapshots=0)
    ordered = sorted(snapshots, key=lambda s: s.taken_at)
    flags = restarts(ordered)
    segment = ordered[last_segment([s.taken_at for s in ordered], flags) :]
    index = trend_sample_index(segment[-1].profile, sample_index)
    first, last = segment[0], segment[-1]
    # the latest snapshot's sites serve its series and, if there are suspects, its clusters
    last_annotation = annotate(last.profile) if len(segment) >= 2 else None
    trends = site_trends(segment, index, last_annotation=last_annotation)
    ends = Ends(
        first.taken_at,
        last.taken_at,
        lambda: (first.profile, last.profile),
        last.profile.sample_types[index].type,
        profile_sampling_rate(last.profile),
        last_annotation,
    )
    return trend_report(
        target,
        len(snapshots),
        trends,
        ends,
        index,
        sum(flags),
        [int(s.profile.samples.values[:, index].sum()) for s in segment],
        len(segment),
        source_lines,
        max_suspects,
    )


@dataclass(frozen=True, slots=True)
class Ends:
    """The first and the latest snapshot of a series, loaded only when a suspect needs its leak paths."""

    first_time: float
    last_time: float
    load: Callable[[], tuple[Profile, Profile]]
    sample_type: str
    rate: int
    last_annotation: SiteAnnotation | None = None  # the latest snapshot's sites, when already found


def trend_report(
    target: str,
    snapshot_count: int,
    trends: Sequence[SiteTrend],
    ends: Ends,
    index: int,
    restart_count: int,
    inuse_total: list[int],
    analysed: int,
    source_lines: SourceLines | None,
    max_suspects: int,
) -> TargetReport:
    report = TargetReport(target=target, snapshots=snapshot_count)
    span = ends.last_time - ends.first_time
    reported = [t for t in trends[:max_suspects] if t.confidence >= REPORT_THRESHOLD]
    if reported:  # leak paths and clusters only explain suspects: a healthy process never pays for them
        first, last = ends.load()
        growth = diff(last, first) if last is not first else last
        paths = leak_paths(growth, index, top=50, source_lines=source_lines)
        groups = clusters(last, index, source_lines=source_lines, annotation=ends.last_annotation)
        report.suspects.extend(_suspect(site_trend, span, groups, paths) for site_trend in reported)
    totals = tuple(inuse_total)
    report.heap = HeapTrendFacts(ends.sample_type, analysed, restart_count, ends.rate, round(span, 3), totals)
    return report


def _suspect(site_trend: SiteTrend, span: float, groups: Sequence[Cluster], paths: Sequence[LeakPath]) -> Suspect:
    site, trend = site_trend.site, site_trend.trend
    mine = [c for c in groups if (c.site.function, c.site.file, c.site.line) == (site.function, site.file, site.line)]
    main = max(mine, key=lambda c: c.current, default=None)
    kind = main.kind.kind if main else "unknown"
    object_size = main.size_class if main else 0
    path = next((p for p in paths if p.site is not None and p.site.where() == site.where()), None)
    category = _category(kind, object_size)
    summary = (
        f"{site.function} ({site.file.rsplit('/', 1)[-1]}:{site.line}) holds {human_bytes(trend.growth, signed=True)}"
        f" more after {human_duration(span)} ({human_rate(trend.slope, bytes_=True)}, rising or holding in "
        f"{trend.rising_steps:.0%} of steps{', flattening' if trend.plateaued else ''}); {kind}"
        + (f", {human_bytes(object_size)} objects" if object_size else "")
    )
    evidence = HeapSiteEvidence(
        site=site.where(),
        user_code=site.user_code,
        kind=kind,
        kind_evidence=main.kind.evidence if main else "",
        size_class_bytes=object_size,
        slope_bytes_per_second=round(trend.slope, 1),
        growth_bytes=round(trend.growth),
        first_bytes=site_trend.values[0],
        last_bytes=site_trend.values[-1],
        tau=round(trend.tau, 3),
        p_value=float(f"{trend.p_value:.3g}"),
        rising_steps=round(trend.rising_steps, 3),
        plateaued=trend.plateaued,
        held_fraction=round(site_trend.held_fraction, 3),
        noise_bytes=round(site_trend.noise),
        snapshots=len(site_trend.values),
        series=site_trend.values,
        leak_path=[f"{frame.function} {frame.file}:{frame.line}" for frame in path.frames] if path else [],
        advice=advice_for(category),
    )
    return Suspect("heap", category, site.function, site.file, site.line, site_trend.confidence, summary, evidence)


def _category(kind: str, object_size: int) -> str:
    if kind == MAKESLICE:
        return "large-buffer-retention" if object_size > 32 * 1024 else "slice-retention"
    return {
        MAP: "map-growth",
        GROWSLICE: "slice-growth",
        NEWOBJECT: "object-growth",
        STRING_CONCAT: "string-growth",
        STRING_CONVERSION: "string-growth",
        GOROUTINE: "goroutine-stack-growth",
    }.get(kind, "heap-growth")
