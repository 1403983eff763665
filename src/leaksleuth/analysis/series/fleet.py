"""Leak detection from runtime metric series (goroutines, heap, RSS, GC cycles) across a fleet of instances.

Pure: the input is ``InstanceSeries`` — per instance, timestamps and named series aligned to them — whether the
numbers came from Prometheus range queries (``leaksleuth fleet``) or from scraped MemStats (``watch``). Series
names are the ``MemStats`` attribute names (``goroutines``, ``heap_inuse``, ``next_gc``, ``rss_bytes``, ``num_gc``,
…) plus ``container_working_set_bytes``, ``container_limit_bytes`` and ``load``.

Each instance is cut into segments at restarts (process start time changes, counters reset) and judged per segment
by the detectors in ``series_detectors``. Growth (heap, non-heap, GC stalled, goroutines, steps) is the primary
evidence; peers, the dynamic baseline and the time-to-limit forecast only support it: a level alone is a hint
(below SUSPECT_CONFIDENCE), never a verdict. Output: one ``TargetReport`` per instance (``leaksleuth/report@1``),
ranked.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from leaksleuth.analysis import trend
from leaksleuth.analysis.advice import advice_for
from leaksleuth.analysis.evidence import HINT_CEILING, REPORT_THRESHOLD, SUSPECT_CONFIDENCE, Verdict, fuse
from leaksleuth.analysis.humanize import series_words
from leaksleuth.analysis.restarts import COUNTERS, PROCESS_START, started_over
from leaksleuth.analysis.segments import segment_bounds
from leaksleuth.analysis.series.detectors import (
    baseline_exceeded,
    gc_stalled,
    goroutine_growth,
    heap_growth,
    limit_forecast,
    non_heap_growth,
    step_growth,
)
from leaksleuth.analysis.series.runtime import RUNTIME_SERIES, series_runtime
from leaksleuth.analysis.series.signals import Finding, Options, Segment, latest_level
from leaksleuth.model.report import Suspect, SuspectKind, TargetReport, TargetStatus
from leaksleuth.model.series import SeriesEvidence, SeriesFacts, SeriesWindow, Signal

if TYPE_CHECKING:
    from leaksleuth.model.memstats import MemStats

FloatArray = trend.FloatArray

# the series detectors read; any may be missing (``fleet`` fills what Prometheus has)
SERIES_NAMES = (
    "goroutines",
    "heap_inuse",
    "heap_alloc",
    "next_gc",
    "stack_inuse",
    "rss_bytes",
    "num_gc",
    "total_alloc",
    "process_start_seconds",
    "gomemlimit_bytes",
    "container_working_set_bytes",
    "container_limit_bytes",
    "load",
    *RUNTIME_SERIES,
)
# more specific diagnoses first: they name the category when several growth detectors agree
_KINDS: tuple[SuspectKind, ...] = ("heap", "goroutine")
# a just-restarted instance is judged on the process before: what it showed counts, a little less than now
PREVIOUS_PROCESS_DISCOUNT = 4 / 5
_CATEGORY_ORDER = ("rss-up-gc-stalled", "non-heap-growth", "step-growth", "heap-growth", "goroutine-growth")


def memstats_series(stats: MemStats | None, goroutines: int | None) -> dict[str, float]:
    """The numbers the series detectors read, per round (stored in the series table); ``goroutines`` from the
    goroutine profile when there is one (exact), else what the metrics said."""
    values: dict[str, float] = {}
    if stats is not None:
        for name in SERIES_NAMES:
            value = getattr(stats, name, None)
            if isinstance(value, int | float):
                values[name] = float(value)
    if goroutines is not None:
        values["goroutines"] = float(goroutines)
    return values


@dataclass(slots=True)
class InstanceSeries:
    """One instance's metrics over time. ``values[name]`` is aligned to ``times`` (seconds); NaN = no sample."""

    instance: str  # how people name it: Prometheus' instance label, a target URL
    times: FloatArray
    values: dict[str, FloatArray]
    group: str = ""  # peers are the instances of the same group (job / service)
    labels: dict[str, str] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)  # P95 over a long window before ``times``
    status: TargetStatus = "ok"
    error: str | None = None
    restarts: Sequence[bool] | None = None  # per time: a new process began there, known from other signals (watch)
    go_version: str | None = None  # go_info's version label: whether GOMAXPROCS follows the CPU limit (Go 1.25+)

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=np.float64)
        if self.restarts is not None and len(self.restarts) != self.times.size:
            raise ValueError(f"{self.instance}: {len(self.restarts)} restart flags, times has {self.times.size}")
        self.values = {name: np.asarray(v, dtype=np.float64) for name, v in self.values.items()}
        for name, column in self.values.items():
            if column.shape != self.times.shape:
                raise ValueError(
                    f"{self.instance}: series {name!r} has {column.size} points, times has {self.times.size}"
                )
        if self.times.size > 1 and not bool(np.all(np.diff(self.times) > 0)):
            raise ValueError(f"{self.instance}: times must be strictly increasing")

    @classmethod
    def from_memstats(
        cls,
        instance: str,
        samples: Iterable[tuple[float, MemStats]],
        *,
        group: str = "",
        labels: dict[str, str] | None = None,
    ) -> InstanceSeries:
        """From ``(taken_at, MemStats)`` pairs, e.g. a watch's scrapes of ``/metrics`` or ``/debug/vars``."""
        ordered = sorted(samples, key=lambda pair: pair[0])
        rows = [memstats_series(stats, None) for _, stats in ordered]
        columns = {name: [row.get(name, math.nan) for row in rows] for name in SERIES_NAMES}
        values = {name: np.asarray(column) for name, column in columns.items() if not all(map(math.isnan, column))}
        return cls(instance, np.asarray([t for t, _ in ordered], dtype=np.float64), values, group, labels or {})


def restart_flags(series: InstanceSeries) -> list[bool]:
    """True where a new process began: its start time changed, or a counter went down (or the caller knew it from
    other signals: ``series.restarts``)."""
    flags = [bool(flag) for flag in series.restarts] if series.restarts is not None else [False] * series.times.size
    for name in (PROCESS_START, *COUNTERS):
        column = series.values.get(name)
        if column is None:
            continue
        previous: float | None = None
        for index, value in enumerate(column.tolist()):
            if math.isnan(value):
                continue
            if previous is not None and started_over(name, previous, value):
                flags[index] = True
            previous = value
    return flags


def segments(series: InstanceSeries) -> list[Segment]:
    bounds = segment_bounds(restart_flags(series))
    return [
        Segment(series.times[start:stop], {name: v[start:stop] for name, v in series.values.items()})
        for start, stop in bounds
    ]


@dataclass(slots=True)
class _Levels:
    """Latest levels of one instance, for comparing it with its peers."""

    goroutines: float | None
    heap_inuse: float | None
    rss_bytes: float | None


def analyze_fleet(instances: Sequence[InstanceSeries], options: Options | None = None) -> list[TargetReport]:
    """Judge every instance against its own history and its peers; ranked, most likely leak first."""
    options = options or Options()
    cut = {id(s): segments(s) for s in instances}
    levels = {id(s): _levels(cut[id(s)][-1] if cut[id(s)] else None) for s in instances}
    by_group: dict[str, list[InstanceSeries]] = defaultdict(list)
    for series in instances:
        by_group[series.group].append(series)
    reports = []
    for series in instances:
        peers = [levels[id(p)] for p in by_group[series.group] if p is not series]
        reports.append(_judge(series, cut[id(series)], peers, options))
    reports.sort(key=lambda r: (-max((s.confidence for s in r.suspects), default=0.0), r.target))
    return reports


def analyze_instance(
    series: InstanceSeries, peers: Sequence[InstanceSeries] = (), options: Options | None = None
) -> TargetReport:
    """One instance, e.g. a target a watch scrapes; ``peers`` are other instances of the same service."""
    peer_levels = [_levels(cut[-1] if (cut := segments(p)) else None) for p in peers]
    return _judge(series, segments(series), peer_levels, options or Options())


def _judge(series: InstanceSeries, cut: Sequence[Segment], peers: Sequence[_Levels], options: Options) -> TargetReport:
    findings: list[Finding] = []
    long_enough = [s for s in cut if s.points >= options.min_points]
    growth_by_segment = [_growth_findings(s, options) for s in long_enough]
    if long_enough and long_enough[-1] is (cut[-1] if cut else None):
        findings += growth_by_segment[-1]
        earlier = growth_by_segment[:-1]
    elif growth_by_segment:  # just restarted: judge the process that ran before (it may have been OOM-killed)
        before = "judged on the process before the latest restart"
        findings += [f.discounted(PREVIOUS_PROCESS_DISCOUNT, before) for f in growth_by_segment[-1]]
        earlier = growth_by_segment[:-1]
    else:
        earlier = []
    # per kind: how many earlier runs (segments) grew on their own too
    repeated = Counter(
        kind for found in earlier for kind in {f.kind for f in found if f.primary and f.weight >= SUSPECT_CONFIDENCE}
    )
    if cut and cut[-1].points >= options.min_points:
        latest = cut[-1]
        forecast = limit_forecast(latest, options)
        findings += ([forecast] if forecast else []) + baseline_exceeded(latest, series.baselines, options)
        findings += _peer_findings(_levels(latest), peers, options)
    suspects = [s for s in (_suspect(findings, kind, repeated[kind]) for kind in _KINDS) if s]
    report = TargetReport(series.instance, series.status, int(series.times.size), series.error, suspects)
    report.series = _facts(series, cut, suspects)
    report.runtime = series_runtime(cut[-1] if cut else None, series.go_version)
    report.sort()
    return report


def _growth_findings(segment: Segment, options: Options) -> list[Finding]:
    detectors = (heap_growth, non_heap_growth, gc_stalled, goroutine_growth)
    found = [f for f in (detector(segment, options) for detector in detectors) if f]
    found += step_growth(segment, options)
    return found


def _suspect(findings: Sequence[Finding], kind: SuspectKind, repeated_segments: int) -> Suspect | None:
    """One suspect per kind: the strongest growth, reinforced by supporting evidence (noisy-OR).

    Supporting evidence (peers, baseline, forecast) only reinforces a growth finding that stands on its own
    (>= SUSPECT_CONFIDENCE); without one, everything together stays a hint (HINT_CEILING).
    """
    mine = [f for f in findings if f.kind == kind]
    growth = [f for f in mine if f.primary]
    support = [f for f in mine if not f.primary]
    if not mine:
        return None
    strongest = max(growth, key=lambda f: f.weight, default=None)
    if repeated_segments and strongest is not None and strongest.weight >= SUSPECT_CONFIDENCE:
        cycle = Finding(
            kind,
            "restart-cycle",
            0.3,
            f"grew the same way before {repeated_segments} restart(s) in the window (an OOM-kill loop?)",
            {"segments": repeated_segments},
            primary=False,
        )
        mine.append(cycle)
        support.append(cycle)
    weights = [f.weight for f in support] + ([strongest.weight] if strongest else [])
    confidence = fuse(weights)
    if strongest is None or strongest.weight < SUSPECT_CONFIDENCE:
        confidence = min(confidence, HINT_CEILING)
    if confidence < REPORT_THRESHOLD:
        return None
    named = _named(growth) or max(mine, key=lambda f: f.weight)
    ordered = [named] + [f for f in sorted(mine, key=lambda f: -f.weight) if f is not named]
    parts = [f"{f.summary} ({f.evidence['discount']})" if "discount" in f.evidence else f.summary for f in ordered]
    evidence = SeriesEvidence(
        signals=[Signal(f.category, round(f.weight, 3), f.summary, dict(f.evidence)) for f in mine],
        used=sorted({f.category for f in mine}),
        advice=advice_for(named.category),
    )
    return Suspect(kind, named.category, "", "", 0, round(confidence, 3), "; ".join(parts), evidence)


def _named(growth: Sequence[Finding]) -> Finding | None:
    """The most specific growth finding that stands on its own, else the strongest."""
    standing = [f for f in growth if f.weight >= SUSPECT_CONFIDENCE]
    for category in _CATEGORY_ORDER:
        for finding in standing:
            if finding.category == category:
                return finding
    return max(growth, key=lambda f: f.weight, default=None)


def _levels(segment: Segment | None) -> _Levels:
    if segment is None:
        return _Levels(None, None, None)
    return _Levels(
        latest_level(segment, "goroutines"), latest_level(segment, "heap_inuse"), latest_level(segment, "rss_bytes")
    )


def _peer_findings(mine: _Levels, peers: Sequence[_Levels], options: Options) -> list[Finding]:
    """Far above the median of the other instances of the same service (robust: median and MAD)."""
    found = []
    checks: tuple[tuple[SuspectKind, str, float], ...] = (
        ("goroutine", "goroutines", options.peer_min_goroutines),
        ("heap", "heap_inuse", options.peer_min_bytes),
        ("heap", "rss_bytes", options.peer_min_bytes),
    )
    for kind, name, floor in checks:
        value = getattr(mine, name)
        others = [v for v in (getattr(p, name) for p in peers) if v is not None]
        if value is None or len(others) < options.peer_min_others:
            continue
        median = float(np.median(others))
        spread = 1.4826 * float(np.median(np.abs(np.asarray(others) - median)))
        excess = value - median
        if value < options.peer_ratio * median or excess < floor or excess < 5 * spread:
            continue
        ratio = value / max(median, 1.0)
        weight = 0.45 if ratio >= 5 else 0.35
        unit = "" if kind == "goroutine" else " bytes"
        found.append(
            Finding(
                kind,
                "peer-outlier",
                weight,
                f"{series_words(name)} {ratio:.1f}x the median of {len(others)} peers",
                {"metric": name, "value": value, "peer_median": median, "peers": len(others), "unit": unit.strip()},
                primary=False,
            )
        )
    best: dict[str, Finding] = {}
    for finding in found:  # heap_inuse and RSS say the same thing: keep the stronger per kind
        if finding.kind not in best or finding.weight > best[finding.kind].weight:
            best[finding.kind] = finding
    return list(best.values())


def _facts(series: InstanceSeries, cut: Sequence[Segment], suspects: Sequence[Suspect]) -> SeriesFacts:
    top = max((s.confidence for s in suspects), default=0.0)
    latest = cut[-1] if cut else None
    now: dict[str, float] = {}
    if latest is not None:
        for name in ("goroutines", "heap_inuse", "next_gc", "rss_bytes", "container_working_set_bytes"):
            level = latest_level(latest, name)
            if level is not None:
                now[name] = level
    return SeriesFacts(
        series.group,
        dict(series.labels),
        str(Verdict.from_confidence(top)),
        max(0, len(cut) - 1),
        _window(series.times),
        now,
    )


def _window(times: FloatArray) -> SeriesWindow:
    return SeriesWindow(float(times[0]), float(times[-1])) if times.size else SeriesWindow()
