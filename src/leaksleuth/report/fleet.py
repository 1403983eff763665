"""``leaksleuth fleet`` output: a ranked table of instances for people, report@1 JSON for machines."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from leaksleuth.model.incidents import Incident, NodeComparison
from leaksleuth.model.report import Report, TargetReport
from leaksleuth.model.runtime import NodeFacts
from leaksleuth.model.verdict import iso_z
from leaksleuth.report.runtime import gc_line, incident_text, node_table, runtime_table
from leaksleuth.report.terminal import VERDICT_STYLE, data_lines, data_text


@dataclass(slots=True)
class FleetView:
    """Everything the fleet output shows: where the data came from, and the judged instances, ranked."""

    prometheus: str
    selector: str
    start: float
    end: float
    step: float
    reports: list[TargetReport]
    notes: list[str] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    comparisons: list[NodeComparison] = field(default_factory=list)
    nodes: list[NodeFacts] = field(default_factory=list)  # node_exporter's socket memory per node; never leaks


def rows(view: FleetView) -> list[dict[str, Any]]:
    """One row per instance, in rank order: what the table shows."""
    out = []
    for rank, report in enumerate(view.reports, 1):
        report.sort()
        top = report.suspects[0] if report.suspects else None
        out.append(
            {
                "rank": rank,
                "instance": report.target,
                "group": report.series.group if report.series else "",
                "verdict": report.series.verdict if report.series else "healthy",
                "confidence": top.confidence if top else 0.0,
                "category": top.category if top else "",
                "evidence": [f"{s.category}: {s.summary}" for s in report.suspects],
                "restarts": report.series.restarts if report.series else 0,
                "gc": gc_line(report.runtime.gc) if report.runtime and report.runtime.gc else "",
                "status": report.status,
            }
        )
    return out


def to_json(view: FleetView) -> dict[str, Any]:
    document = Report(
        view.reports, dt.datetime.fromtimestamp(view.end, dt.UTC), list(view.incidents), list(view.comparisons)
    ).to_json()
    document["nodes"] = [node.to_json() for node in view.nodes]
    document["source"] = {
        "prometheus": view.prometheus,
        "selector": view.selector,
        "start": iso_z(view.start),
        "end": iso_z(view.end),
        "step_seconds": view.step,
        "notes": list(view.notes),
    }
    return document


def render(console: Console, view: FleetView, *, top: int = 20) -> None:
    from leaksleuth.analysis.humanize import human_duration

    table_rows = rows(view)
    console.print(
        data_text(
            (view.prometheus, "bold"),
            f" {view.selector}: {len(table_rows)} instances, {human_duration(view.end - view.start)} window at "
            f"{human_duration(view.step)} resolution ({iso_z(view.start)} .. {iso_z(view.end)})",
        )
    )
    shown = [r for r in table_rows[:top] if r["verdict"] != "healthy" or len(table_rows) <= top]
    if shown:
        table = Table(show_edge=False, pad_edge=False, expand=False)
        for column, justify in (("#", "right"), ("instance", "left"), ("job", "left"), ("verdict", "left")):
            table.add_column(column, justify=justify, no_wrap=column != "job")  # type: ignore[arg-type]
        table.add_column("conf", justify="right")
        table.add_column("evidence", overflow="fold", ratio=1)
        for row in shown:
            verdict = data_text(row["verdict"], style=VERDICT_STYLE.get(row["verdict"], ""))
            evidence = list(row["evidence"]) or ["-"]
            if row["restarts"]:
                evidence.append(f"({row['restarts']} restart{'s' if row['restarts'] > 1 else ''} in the window)")
            if row["status"] != "ok":
                evidence.append(f"[{row['status']}]")
            if row["gc"]:
                evidence.append(row["gc"])
            table.add_row(
                str(row["rank"]),
                data_text(row["instance"]),
                data_text(row["group"]),
                verdict,
                f"{row['confidence']:.2f}" if row["confidence"] else "",
                data_lines(evidence),
            )
        console.print(table)
    hidden = len(table_rows) - len(shown)
    if hidden:
        console.print(f"[dim]… and {hidden} more instances with lower confidence (--top, --json for all)[/]")
    console.print(_tally(table_rows))
    for incident in view.incidents:
        console.print(incident_text(incident))
    for comparison in view.comparisons:
        console.print(data_text((f"{comparison.service} ", "bold"), f"[{comparison.pattern}] ", comparison.summary))
    nodes = node_table(view.nodes)
    if nodes is not None:
        console.print(nodes)
    runtime = runtime_table(view.reports)
    if runtime is not None:
        console.print(runtime)
    for note in view.notes:
        console.print(data_text(f"note: {note}", style="dim"))


def _tally(table_rows: Sequence[dict[str, Any]]) -> Text:
    counts = Counter(r["verdict"] for r in table_rows)
    text = Text()
    for verdict in ("leaking", "likely leak", "watch", "healthy"):
        if counts[verdict]:
            if text:
                text.append(", ")
            text.append(f"{counts[verdict]} {verdict}", style=VERDICT_STYLE[verdict])
    return text
