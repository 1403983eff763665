"""Goroutine analysis output: the bucket view-model, a rich table for people, report@1 for machines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from leaksleuth.analysis.goroutines.buckets import GoroutineSnapshot, History
from leaksleuth.model.report import Report, Suspect, TargetReport
from leaksleuth.model.verdict import SUSPECT_CONFIDENCE
from leaksleuth.model.views import GoroutineFacts
from leaksleuth.report.terminal import LINE_BREAK, confidence_colour, data_text

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


def bucket_rows(histories: Sequence[History], limit: int | None = None) -> list[dict[str, Any]]:
    """One row per bucket (stable key), largest first: what the table shows and the JSON ``buckets`` array holds."""
    rows = []
    for history in sorted(histories, key=lambda h: (-h.counts[-1], -max(h.counts), h.key)):
        bucket = history.latest
        blocking = bucket.blocking
        rows.append(
            {
                "key": history.key,
                "count": history.counts[-1],
                "change": history.counts[-1] - history.counts[0],
                "series": list(history.counts),
                "state": bucket.state_class,
                "states": dict(bucket.states),
                "wait_minutes": [bucket.wait_min, bucket.wait_max] if bucket.wait_max is not None else None,
                "leaked": bucket.leaked,
                "function": blocking.function if blocking else "",
                "calls": bucket.calls,
                "file": blocking.file if blocking else "",
                "line": blocking.line if blocking else 0,
                "created_by": (
                    f"{bucket.created_by.function} {bucket.created_by.site()}" if bucket.created_by else None
                ),
            }
        )
    return rows[:limit] if limit else rows


def evidence_available(snapshots: Sequence[GoroutineSnapshot]) -> list[str]:
    used = []
    if any(s.has_leak_profile for s in snapshots):
        used.append("runtime-proven (goroutineleak)")
    if len(snapshots) >= 4:
        used.append(f"growth ({len(snapshots)} snapshots)")
    if any(s.has_states for s in snapshots):
        used.append("wait times and creators (debug=2)")
    used.append("signatures")
    return used


def build_report(
    target: str,
    snapshots: Sequence[GoroutineSnapshot],
    suspects: list[Suspect],
    histories: Sequence[History],
    notes: Sequence[str],
) -> Report:
    facts = GoroutineFacts(
        snapshots[-1].total if snapshots else 0,
        tuple(evidence_available(snapshots)),
        tuple(notes),
        tuple(bucket_rows(histories)),
    )
    return Report([TargetReport(target, "ok", len(snapshots), None, suspects, goroutine_facts=facts)])


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _wait(row: dict[str, Any]) -> str:
    wait = row["wait_minutes"]
    if not wait:
        return ""
    low, high = wait
    if not high:
        return ""  # the runtime prints waits from one minute on
    return f"{high}m" if low == high else f"{low}–{high}m"


def render(
    console: Console,
    target: str,
    snapshots: Sequence[GoroutineSnapshot],
    suspects: Sequence[Suspect],
    histories: Sequence[History],
    notes: Sequence[str],
    *,
    top: int | None = 15,
) -> None:
    from rich.table import Table  # here: ``--json`` does not pay for rich

    total = snapshots[-1].total if snapshots else 0
    span = snapshots[-1].taken_at - snapshots[0].taken_at if len(snapshots) > 1 else 0.0
    over = f" over {span:.0f}s" if span >= 10 else f" over {span:.1f}s" if span else ""
    plural = "s" if len(snapshots) != 1 else ""
    console.print(data_text((target, "bold"), f": {total:,} goroutines, {len(snapshots)} snapshot{plural}{over}"))
    console.print(data_text(f"evidence: {', '.join(evidence_available(snapshots))}", style="dim"))
    for note in notes:
        console.print(data_text(f"note: {note}", style="dim"))
    table = Table(title="Goroutine buckets", title_justify="left")
    rows = [row for row in bucket_rows(histories) if row["count"] or row["change"]][:top]
    with_change = len(snapshots) > 1
    with_wait = any(_wait(row) for row in rows)
    columns = [
        ("count", "right"),
        ("change", "right"),
        ("state", "left"),
        ("wait", "right"),
        ("blocked at", "left"),
        ("created by", "left"),
    ]
    shown = [c for c in columns if (c[0] != "change" or with_change) and (c[0] != "wait" or with_wait)]
    for column, justify in shown:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        cells: dict[str, RenderableType] = {
            "count": f"{row['count']:,}",
            "change": f"{row['change']:+,}",
            "state": data_text(row["state"], (f" ({row['leaked']} leaked)" if row["leaked"] else "", "red")),
            "wait": _wait(row),
            "blocked at": data_text(
                row["calls"] or row["function"], LINE_BREAK, (f"{_base(row['file'])}:{row['line']}", "dim")
            ),
            "created by": data_text((row["created_by"] or "").split(" ")[0]),
        }
        table.add_row(*(cells[name] for name, _ in shown))
    console.print(table)
    if not suspects:
        console.print("[green]No leak suspects.[/]")
        return
    verdicts = Table(title="Leak suspects", title_justify="left")
    verdicts.add_column("conf", justify="right")
    verdicts.add_column("category")
    verdicts.add_column("why")
    for suspect in suspects:
        colour = confidence_colour(suspect.confidence)
        evidence = ", ".join(suspect.evidence.used)
        verdicts.add_row(
            data_text(f"{suspect.confidence:.2f}", style=colour),
            data_text(suspect.category),
            data_text(suspect.summary, LINE_BREAK, (evidence, "dim")),
        )
    console.print(verdicts)
    console.print("[bold]What to do[/]")
    seen: set[str] = set()
    for suspect in suspects:
        if suspect.confidence >= SUSPECT_CONFIDENCE and suspect.category not in seen:
            seen.add(suspect.category)
            advice = suspect.evidence.advice
            console.print(data_text("  ", (suspect.category, "bold"), f" ({suspect.file}:{suspect.line}): {advice}"))
