"""Heap reports as text and JSON: ``top`` and ``diff`` tables in pprof's own layout, leak paths, clusters, trends.

Plain strings, no rich: ``heap top`` runs on hot paths (a 200k-sample profile in well under a second) and the
table is pprof's fixed-width text anyway. Numbers use pprof's scaling (one unit per table, chosen like
``selectOutputUnit``) so the output reads exactly like ``go tool pprof -top``. Names from the profile go through
``report.terminal.printable`` (no control characters reach the terminal); pprof's own names read the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from leaksleuth.report.terminal import auto_scaled, auto_unit, printable, scaled

if TYPE_CHECKING:  # type names only: `heap top` need not import the site and path analysis
    from leaksleuth.analysis.heap.paths import Cluster, LeakPath
    from leaksleuth.analysis.heap.top import TopTable
    from leaksleuth.model.report import Report


def output_unit(table: TopTable) -> tuple[str, int]:
    """pprof's ``selectOutputUnit``: the unit of the smallest non-zero row, larger when the total dwarfs it."""
    smallest = 0
    for row in table.rows:
        value = abs(row.flat) or abs(row.cum)
        if value and (smallest == 0 or value < smallest):
            smallest = value
    largest = table.total
    smallest = smallest or largest
    small_unit, large_unit = auto_unit(smallest, table.unit), auto_unit(largest, table.unit)
    if small_unit != large_unit and smallest * 100 < largest:
        return auto_unit(100 * smallest, table.unit)
    return small_unit


def percent(value: float, total: int) -> str:
    """pprof's ``Percentage``."""
    ratio = abs(value / total) * 100 if total else 0.0
    if 99.95 <= ratio <= 100.05:
        return "  100%"
    return f"{ratio:5.2f}%" if ratio >= 1.0 else f"{_go_g(ratio):>5}%"


def _go_g(ratio: float) -> str:
    # Go's %.2g: like Python's, but Go writes exponents with at least two digits as Python does too
    return f"{ratio:.2g}"


def top_text(table: TopTable, header: Sequence[str] = ()) -> str:
    unit = output_unit(table)
    lines = [printable(line) for line in header]
    lines.append(f"Type: {printable(table.sample_type)}")
    shown = table.shown
    lines.append(
        f"Showing nodes accounting for {scaled(shown, unit)}, {percent(shown, table.total).strip()} of "
        f"{scaled(table.total, unit)} total"
    )
    if table.dropped_nodes and table.total:
        cutoff = abs(int(table.total * table.node_fraction))
        plural = "s" if table.dropped_nodes > 1 else ""
        lines.append(f"Dropped {table.dropped_nodes} node{plural} (cum <= {scaled(cutoff, unit)})")
    if 0 < table.nodecount < table.node_count:
        lines.append(f"Showing top {table.nodecount} nodes out of {table.node_count}")
    lines.append(f"{'flat':>10} {'flat':>5}% {'sum':>5}% {'cum':>10} {'cum':>5}%")
    running = 0
    for row in table.rows:
        running += row.flat
        inline = f" ({row.inline})" if row.inline else ""
        lines.append(
            f"{scaled(row.flat, unit):>10} {percent(row.flat, table.total)} {percent(running, table.total)} "
            f"{scaled(row.cum, unit):>10} {percent(row.cum, table.total)}  {printable(row.name)}{inline}"
        )
    return "\n".join(lines)


def top_json(table: TopTable) -> dict[str, Any]:
    return {
        "sample_index": table.sample_type,
        "unit": table.unit,
        "total": table.total,
        "granularity": str(table.granularity),
        "nodes": table.node_count,
        "rows": [
            {
                "name": row.name,
                "flat": row.flat,
                "flat_pct": table.percent(row.flat),  # full precision: a tiny row is not 0.0
                "cum": row.cum,
                "cum_pct": table.percent(row.cum),
                "inline": row.inline,
            }
            for row in table.rows
        ],
    }


def paths_json(paths: Sequence[LeakPath]) -> list[dict[str, Any]]:
    return [
        {
            "growth": path.growth,
            "current": path.current,
            "base": path.base,
            "site": path.site.where() if path.site else None,
            "function": path.site.function if path.site else None,
            "kind": path.kind.kind,
            "kind_evidence": path.kind.evidence,
            "object_size": path.object_size,
            "frames": [f"{frame.function} {frame.file}:{frame.line}" for frame in path.frames],
        }
        for path in paths
    ]


def clusters_json(clusters: Sequence[Cluster]) -> list[dict[str, Any]]:
    return [
        {
            "site": cluster.site.where(),
            "function": cluster.site.function,
            "user_code": cluster.site.user_code,
            "kind": cluster.kind.kind,
            "kind_evidence": cluster.kind.evidence,
            "size_class": cluster.size_class,
            "growth": cluster.growth,
            "current": cluster.current,
            "base": cluster.base,
            "samples": cluster.samples,
        }
        for cluster in clusters
    ]


def paths_text(paths: Sequence[LeakPath], unit: str, *, is_diff: bool, allocations: bool = True) -> str:
    """``allocations``: heap/allocs paths end in an allocation of a kind; other profiles' paths end in a leaf."""
    leaf = "allocation" if allocations else "leaf"
    title = f"Leak paths (root → {leaf}), by growth" if is_diff else f"Largest paths (root → {leaf})"
    lines = [title]
    for rank, path in enumerate(paths, 1):
        amount = _signed(path.growth, unit) if is_diff else scaled(path.current, auto_unit(path.current, unit))
        kind = path.kind.kind + (f", {path.object_size} B objects" if path.object_size else "")
        where = _at(path.site.function, path.site.file, path.site.line) if path.site else "?"
        lines.append(f"{rank:>2}. {amount}  at {where}" + (f"  [{kind}]" if allocations else ""))
        shown = path.frames[-8:]
        if len(path.frames) > len(shown):
            lines.append(f"      … {len(path.frames) - len(shown)} frames above")
        lines.extend(f"      {_at(frame.function, frame.file, frame.line)}" for frame in shown)
    return "\n".join(lines)


def clusters_text(clusters: Sequence[Cluster], unit: str, *, is_diff: bool, limit: int = 10) -> str:
    lines = ["Allocation sites by kind and object size" + (", by growth" if is_diff else "")]
    header = f"{'growth':>10} {'now':>10} {'before':>10}  " if is_diff else f"{'in use':>10}  "
    lines.append(header + f"{'kind':<18} {'size':>8}  site")
    for cluster in clusters[:limit]:
        now, before = auto_scaled(cluster.current, unit), auto_scaled(cluster.base, unit)
        values = f"{_signed(cluster.growth, unit):>10} {now:>10} {before:>10}  " if is_diff else f"{now:>10}  "
        size = auto_scaled(cluster.size_class, "bytes") if cluster.size_class else "-"
        site = _at(cluster.site.function, cluster.site.file, cluster.site.line)
        lines.append(f"{values}{cluster.kind.kind:<18} {size:>8}  {site}")
    return "\n".join(lines)


def trend_text(report: Report) -> str:
    lines = []
    for target in report.targets:
        heap = target.heap
        analysed = heap.snapshots_analysed if heap else target.snapshots
        lines.append(
            f"{printable(target.target)}: {analysed} snapshots over "
            f"{heap.span_seconds if heap else 0:.0f}s, MemProfileRate {heap.memprofilerate if heap else '?'}"
            + (f", {heap.restarts} restart(s): analysed the newest run" if heap and heap.restarts else "")
        )
        if not target.suspects and analysed < 4:
            lines.append(f"  {analysed} snapshot(s): too few to judge growth (take at least 4: --every 10s --count 6)")
        elif not target.suspects:
            lines.append("  no heap growth that looks like a leak")
        for suspect in target.suspects:
            lines.append(f"  {suspect.confidence:.2f}  {suspect.category:<24} {printable(suspect.summary)}")
            lines.append(f"        {printable(suspect.file)}:{suspect.line}")
    return "\n".join(lines)


def fleet_text(report: Report) -> str:
    """One row per node in the unit of the compared sample type (the heading names it unless it is inuse_space)."""
    names = [printable(t.target) for t in report.targets]
    width = max([len("node"), *map(len, names)])
    fleets = [target.fleet for target in report.targets]
    sample_type = next((fleet.sample_index for fleet in fleets if fleet is not None), "inuse_space")
    heading = "in use" if sample_type == "inuse_space" else sample_type
    lines = [f"{'node':<{width}} {heading:>10} {'vs median':>11} {'z':>6}  verdict"]
    for target, name, fleet in zip(report.targets, names, fleets, strict=True):
        unit = fleet.unit if fleet else "bytes"
        verdict = "OUTLIER" if fleet and fleet.outlier else "ok"
        value, excess, robust_z = (fleet.value, fleet.excess, fleet.robust_z) if fleet else (0, 0, 0.0)
        lines.append(
            f"{name:<{width}} {auto_scaled(value, unit):>10} {_signed(excess, unit):>11} {robust_z:>6.1f}  {verdict}"
        )
        lines.extend(f"    {s.confidence:.2f}  {printable(s.summary)}" for s in target.suspects)
    return "\n".join(lines)


def _signed(value: float, unit: str) -> str:
    text = auto_scaled(value, unit)
    return text if text.startswith("-") or text == "0" else "+" + text


def _at(function: str, file: str, line: int) -> str:
    return printable(f"{function} {_short(file)}:{line}")


def _short(path: str) -> str:
    parts = path.rsplit("/", 2)
    return "/".join(parts[-2:]) if len(parts) > 1 else path
