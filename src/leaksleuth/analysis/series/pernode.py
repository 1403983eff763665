"""Per-node comparison of a service's leak (seed §1: the same image leaks at rates that differ by node, with the
traffic each gets). For every group with a leaking instance: each instance's growth rate over its latest process
(Theil–Sen slope of the heap goal / heap in use, or of the goroutine count) next to its mean load (``--load``, else
the allocation rate), and which pattern that is:

- ``proportional-to-load``: several leak and rate / load agrees within a third while the loads differ: a leak per
  request (or per message) — the fix is in the request path, every node has it;
- ``one-node-only``: one leaks, its peers at a comparable load (within 3x) stay flat: something about that node
  (its data, a stuck connection, its config);
- ``uneven``: several leak, not in proportion to their load.

Supporting context beside the per-instance verdicts; it changes no confidence. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from leaksleuth.analysis import trend
from leaksleuth.analysis.evidence import SUSPECT_CONFIDENCE
from leaksleuth.analysis.humanize import human_bytes
from leaksleuth.analysis.series.fleet import InstanceSeries, segments
from leaksleuth.analysis.series.signals import Segment, heap_signal, load_series
from leaksleuth.model.incidents import NodeComparison, NodeRate
from leaksleuth.model.report import TargetReport

PROPORTIONAL_SPREAD = 1 / 3  # rate / load within ±1/3 of its median: in proportion to the load
LOADS_DIFFER = 1.3  # loads must differ this much for proportionality to be told from "every node leaks alike"
COMPARABLE_LOAD = 3.0  # a flat peer with a load within 3x of the leaking node's
_GROWTH = ("heap-growth", "step-growth", "goroutine-growth", "rss-up-gc-stalled", "non-heap-growth")


def compare_nodes(instances: Sequence[InstanceSeries], reports: Mapping[str, TargetReport]) -> list[NodeComparison]:
    by_group: dict[str, list[InstanceSeries]] = defaultdict(list)
    for series in instances:
        by_group[series.group].append(series)
    found = []
    for group, members in sorted(by_group.items()):
        if len(members) < 2:
            continue
        for kind in ("heap", "goroutine"):
            leaking = {m.instance for m in members if _leaks(reports.get(m.instance), kind)}
            if leaking:
                comparison = _compare(group, kind, members, leaking)
                if comparison is not None:
                    found.append(comparison)
    return found


def _leaks(report: TargetReport | None, kind: str) -> bool:
    return report is not None and any(
        s.kind == kind and s.category in _GROWTH and s.confidence >= SUSPECT_CONFIDENCE for s in report.suspects
    )


def _rate(segment: Segment, kind: str) -> float | None:
    if kind == "heap":
        signal = heap_signal(segment)
        found = (signal[1], signal[2]) if signal is not None else None
    else:
        found = segment.finite("goroutines")
    if found is None or found[0].size < 4:
        return None
    return trend.theil_sen(found[0] - found[0][0], found[1])[0]


def _node(series: InstanceSeries, kind: str, leaking: bool) -> tuple[NodeRate, str] | None:
    cut = segments(series)
    if not cut:
        return None
    latest = cut[-1]
    rate = _rate(latest, kind)
    if rate is None:
        return None
    load = load_series(latest)
    mean = float(np.nanmean(load)) if load is not None and np.isfinite(load).any() else None
    source = "load" if "load" in latest.values else "allocation rate"
    return NodeRate(series.instance, rate, mean, leaking), source


def _compare(group: str, kind: str, members: Sequence[InstanceSeries], leaking: set[str]) -> NodeComparison | None:
    nodes, sources = [], set()
    for series in members:
        found = _node(series, kind, series.instance in leaking)
        if found is not None:
            nodes.append(found[0])
            sources.add(found[1])
    leakers = [n for n in nodes if n.leaking]
    if not leakers or len(nodes) < 2:
        return None
    unit = "bytes" if kind == "heap" else "goroutines"
    pattern, summary = _pattern(nodes, leakers, unit)
    if pattern is None:
        return None
    source = "load" if sources == {"load"} else "allocation rate"
    return NodeComparison(group, kind, unit, pattern, source, tuple(nodes), summary)


def _pattern(nodes: Sequence[NodeRate], leakers: Sequence[NodeRate], unit: str) -> tuple[str | None, str]:
    def rate(value: float) -> str:
        return f"{human_bytes(value)}/s" if unit == "bytes" else f"{value:.1f}/s"

    if len(leakers) == 1:
        node = leakers[0]
        flat = [n for n in nodes if not n.leaking and _comparable(n.load, node.load)]
        if not flat:
            return None, ""
        return "one-node-only", (
            f"leaks on one node only: {node.instance} grows {rate(node.rate)}, {len(flat)} peer(s) at a comparable "
            f"load do not"
        )
    loads = [n.load for n in leakers]
    if any(load is None or load <= 0 for load in loads):
        return None, ""
    per_load = np.asarray([n.rate / n.load for n in leakers if n.load])
    median = float(np.median(per_load))
    spread = float(np.max(np.abs(per_load - median))) / abs(median) if median else float("inf")
    rates = ", ".join(f"{n.instance} {rate(n.rate)}" for n in leakers)
    differ = max(loads) / min(loads) >= LOADS_DIFFER  # type: ignore[type-var,operator]
    if spread <= PROPORTIONAL_SPREAD and differ:
        return "proportional-to-load", f"leaks in proportion to traffic on {len(leakers)} nodes ({rates})"
    if spread <= PROPORTIONAL_SPREAD:
        return "proportional-to-load", f"every node leaks alike at a like load ({rates})"
    return "uneven", f"{len(leakers)} nodes leak, not in proportion to their load ({rates})"


def _comparable(load: float | None, other: float | None) -> bool:
    if load is None or other is None or load <= 0 or other <= 0:
        return True  # no load known: peers of one service are taken as comparable
    return max(load, other) / min(load, other) <= COMPARABLE_LOAD
