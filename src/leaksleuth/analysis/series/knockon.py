"""Knock-on after a restart (seed §1): when one instance goes down, do its peers' memory jump within minutes?

For every restart (``restart_flags``: start time moved, counters reset) the moment the victim was last seen alive
is ``t0``; each peer of the same group is compared with itself: its memory trend over ``before_seconds`` before
``t0`` (Theil–Sen, so a peer that was already leaking is not blamed on the victim) predicts where it would be, and
the rise is how far its smoothed memory got above that prediction within ``horizon_seconds``. A rise of 20% of its
level and at least 4 MiB is a knock-on; the delay is when the rise first passed that threshold. Restarts of one
group within ``horizon_seconds`` of each other are one incident (a cascade), the first one its victim; the victim's
leak, judged on the process before the restart, is the root cause. Pure.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from leaksleuth.analysis import trend
from leaksleuth.analysis.evidence import LEAKING_CONFIDENCE, smooth
from leaksleuth.analysis.humanize import human_bytes, human_duration
from leaksleuth.analysis.series.fleet import (
    PREVIOUS_PROCESS_DISCOUNT,
    InstanceSeries,
    analyze_instance,
    restart_flags,
)
from leaksleuth.model.incidents import Incident, IncidentKind, PeerRise
from leaksleuth.model.report import TargetReport

MEMORY_SERIES = ("container_working_set_bytes", "rss_bytes", "heap_inuse")  # what the peer's rise is read from
MIN_POINTS = 3
TREND_P = 0.05  # the peer's own trend before t0 is extrapolated when Mann–Kendall finds one at this level


@dataclass(frozen=True, slots=True)
class KnockOnOptions:
    horizon_seconds: float = 180.0  # the seed: peers jump within 1–3 minutes
    before_seconds: float = 120.0
    min_rise_share: float = 0.20  # the seed's "20%+"
    min_rise_bytes: float = float(4 << 20)


@dataclass(frozen=True, slots=True)
class _Restart:
    instance: InstanceSeries
    t0: float  # last sample of the process that went down


def find_incidents(
    instances: Sequence[InstanceSeries],
    reports: Mapping[str, TargetReport] | None = None,
    options: KnockOnOptions | None = None,
) -> list[Incident]:
    """Service-level incidents of a fleet, oldest first."""
    options = options or KnockOnOptions()
    by_group: dict[str, list[InstanceSeries]] = defaultdict(list)
    for series in instances:
        by_group[series.group].append(series)
    found = []
    for group, members in by_group.items():
        restarts = sorted((r for s in members for r in _restarts(s)), key=lambda r: r.t0)
        for cluster in _clusters(restarts, options.horizon_seconds):
            incident = _incident(group, cluster, members, reports or {}, options)
            if incident is not None:
                found.append(incident)
    return sorted(found, key=lambda i: (i.started_at, i.service))


def _restarts(series: InstanceSeries) -> list[_Restart]:
    flags = restart_flags(series)
    return [_Restart(series, float(series.times[i - 1])) for i, flag in enumerate(flags) if flag and i > 0]


def _clusters(restarts: Sequence[_Restart], gap: float) -> list[list[_Restart]]:
    clusters: list[list[_Restart]] = []
    for restart in restarts:
        if clusters and restart.t0 - clusters[-1][-1].t0 <= gap:
            clusters[-1].append(restart)
        else:
            clusters.append([restart])
    return clusters


def _incident(
    group: str,
    cluster: Sequence[_Restart],
    members: Sequence[InstanceSeries],
    reports: Mapping[str, TargetReport],
    options: KnockOnOptions,
) -> Incident | None:
    victim, t0 = cluster[0].instance, cluster[0].t0
    restarted = tuple(dict.fromkeys(r.instance.instance for r in cluster))
    others = [m for m in members if m.instance not in restarted]
    # a peer that leaks on its own is judged on its own: its rise is its leak's, not the victim's
    leaking = tuple(m.instance for m in others if _leaks(reports.get(m.instance)))
    peers = [m for m in others if m.instance not in leaking]
    rises = [rise for peer in peers if (rise := peer_rise(peer, t0, options)) is not None]
    if not rises and len(restarted) < 2:
        return None
    kind: IncidentKind = "knock-on" if rises else "restart-cascade"
    root = _root_cause(_before(victim, t0)) or _root_cause(reports.get(victim.instance))
    reason = str(victim.labels.get("last_terminated_reason") or "")
    if not reason and root.get("kind") == "heap":
        reason = "memory growth before the restart"
    return Incident(
        kind,
        group,
        victim.instance,
        t0,
        restarted,
        tuple(rises),
        len(peers),
        leaking,
        reason,
        root,
        _summary(kind, victim.instance, restarted, rises, len(peers), root),
    )


def peer_rise(peer: InstanceSeries, t0: float, options: KnockOnOptions) -> PeerRise | None:
    """How far the peer's memory rose above its own trend after ``t0`` (None: not enough, or no data)."""
    for name in MEMORY_SERIES:
        column = peer.values.get(name)
        if column is None:
            continue
        keep = np.isfinite(column)
        times, values = peer.times[keep], column[keep]
        before = (times >= t0 - options.before_seconds) & (times <= t0)
        after = (times > t0) & (times <= t0 + options.horizon_seconds)
        if int(before.sum()) < MIN_POINTS or int(after.sum()) < MIN_POINTS:
            continue
        return _rise(peer.instance, name, times, smooth(values, 3), before, after, t0, options)
    return None


def _rise(
    instance: str,
    name: str,
    times: trend.FloatArray,
    values: trend.FloatArray,
    before: np.ndarray,
    after: np.ndarray,
    t0: float,
    options: KnockOnOptions,
) -> PeerRise | None:
    level = float(np.median(values[before][-MIN_POINTS:]))
    slope, _ = trend.theil_sen(times[before] - t0, values[before])
    _, p_value = trend.mann_kendall(values[before])
    # only a real trend (and never a falling one) is extrapolated: noise over a short window is no slope
    slope = slope if slope > 0 and p_value < TREND_P else 0.0
    predicted = level + slope * (times[after] - t0)
    excess = values[after] - predicted
    peak = int(np.argmax(excess))
    rise = float(excess[peak])
    threshold = max(options.min_rise_share * level, options.min_rise_bytes)
    if level <= 0 or not math.isfinite(rise) or rise < threshold:
        return None
    crossed = int(np.argmax(excess >= threshold))
    return PeerRise(
        instance,
        name,
        level,
        float(values[after][peak]),
        rise,
        rise / level,
        float(times[after][crossed] - t0),
    )


def _leaks(report: TargetReport | None) -> bool:
    return report is not None and report.top_confidence >= LEAKING_CONFIDENCE


def _before(series: InstanceSeries, t0: float) -> TargetReport:
    """The victim judged on its series up to ``t0``: the process that went down, and what it showed."""
    keep = series.times <= t0
    values = {name: column[keep] for name, column in series.values.items()}
    flags = list(series.restarts[: int(keep.sum())]) if series.restarts is not None else None
    head = InstanceSeries(
        series.instance, series.times[keep], values, series.group, dict(series.labels), restarts=flags
    )
    return analyze_instance(head)


def _root_cause(report: TargetReport | None) -> dict[str, object]:
    if report is None or not report.suspects:
        return {}
    top = report.ranked()[0]
    return {
        "instance": report.target,
        "kind": top.kind,
        "category": top.category,
        "confidence": top.confidence,
        "summary": top.summary,
    }


def _summary(
    kind: str,
    victim: str,
    restarted: Sequence[str],
    rises: Sequence[PeerRise],
    checked: int,
    root: Mapping[str, object],
) -> str:
    cause = f" ({root['category']}, {root['confidence']:.2f})" if root else ""
    head = f"{victim} went down{cause}"
    if len(restarted) > 1:
        head += f", then {len(restarted) - 1} more instance(s) restarted"
    if kind != "knock-on":
        return head
    worst = max(rises, key=lambda r: r.rise_share)
    return (
        f"{head}; {len(rises)} of {checked} peer(s) rose within {human_duration(max(r.delay_seconds for r in rises))}"
        f" (up to +{worst.rise_share:.0%}, +{human_bytes(worst.rise_bytes)} on {worst.instance})"
    )


def mark_root_causes(
    reports: Sequence[TargetReport], incidents: Sequence[Incident], instances: Sequence[InstanceSeries]
) -> None:
    """The victim's suspect that matches an incident's root cause says so (``evidence.root_cause_of``): the leak
    that took the service down, not one more finding. When the victim's verdict judged only its new process (long
    enough to be judged on its own), the leak of the process that went down is added to it, discounted as the
    series detectors discount a previous process."""
    by_target = {report.target: report for report in reports}
    series_of = {series.instance: series for series in instances}
    for incident in incidents:
        report, series = by_target.get(incident.victim), series_of.get(incident.victim)
        if report is None or not incident.root_cause:
            continue
        mark = {
            "incident": incident.kind,
            "service": incident.service,
            "peers_affected": [peer.instance for peer in incident.peers],
        }
        cause = (incident.root_cause.get("kind"), incident.root_cause.get("category"))
        matching = [s for s in report.suspects if (s.kind, s.category) == cause]
        if not matching and series is not None:
            before = _before(series, incident.started_at).ranked()
            if before and (before[0].kind, before[0].category) == cause:
                added = replace(before[0], confidence=round(before[0].confidence * PREVIOUS_PROCESS_DISCOUNT, 3))
                added.evidence = copy.copy(added.evidence)
                added.evidence.marks = {**added.evidence.marks, "discount": "judged on the process before the restart"}
                report.suspects.append(added)
                report.sort()
                matching = [added]
        for suspect in matching:
            suspect.evidence.marks["root_cause_of"] = mark
