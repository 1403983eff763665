"""Render an ``inspect`` summary: a rich overview for people, JSON for machines."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from leaksleuth.report.terminal import LINE_BREAK, data_text, human_value

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from leaksleuth.analysis.summary import Summary


def to_json(summary: Summary) -> str:
    import json  # here: the tables do not pay for it

    return json.dumps(dataclasses.asdict(summary), indent=2, sort_keys=False)


def render(summary: Summary, console: Console) -> None:
    """Every value from the input (names, states, sources, metrics) is ``data_text``: never markup, no control
    characters (report.terminal)."""
    console.print(_facts(summary))
    for table in (_top_stacks(summary), _top_functions(summary), _memstats(summary)):
        if table is not None:
            console.print(table)
    if summary.gc or summary.runtime_findings:
        _runtime(summary, console)
    if summary.other_text:
        console.print("[bold]other text[/]")
        for line in summary.other_text:
            console.print(data_text("  ", line))


def _runtime(summary: Summary, console: Console) -> None:
    """GC facts and runtime findings (only memstats have them: a dump or profile does not import their model)."""
    from leaksleuth.model.runtime import GcFacts, RuntimeFinding
    from leaksleuth.report.runtime import finding_text, gc_line

    if summary.gc:
        console.print(data_text(gc_line(GcFacts.from_json(summary.gc))))
    for finding in summary.runtime_findings:
        console.print(finding_text(RuntimeFinding.from_json(finding)))


def _facts(summary: Summary) -> Table:
    from rich.table import Table  # here: ``inspect --json`` does not pay for rich

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("source", data_text(summary.source))
    compressed = " (gzip)" if summary.compressed else ""
    facts.add_row("format", data_text(f"{summary.format}{compressed}, {summary.size:,} bytes"))
    facts.add_row("kind", data_text(summary.kind))
    if summary.sample_types:
        facts.add_row("sample types", data_text(", ".join(summary.sample_types)))
        facts.add_row("samples", f"{summary.sample_count:,}")
        units = {t.split("/")[0]: t.split("/")[1] for t in summary.sample_types}
        totals = ", ".join(f"{k}={human_value(v, units.get(k, ''))}" for k, v in summary.totals.items())
        facts.add_row("totals", data_text(totals))
    if summary.period:
        facts.add_row("period", data_text(summary.period))
    if summary.time_nanos:
        when = dt.datetime.fromtimestamp(summary.time_nanos / 1e9, tz=dt.UTC)
        facts.add_row("captured", when.isoformat(timespec="seconds"))
    if summary.duration_seconds:
        facts.add_row("duration", f"{summary.duration_seconds:.2f}s")
    if summary.goroutines is not None:
        facts.add_row("goroutines", f"{summary.goroutines:,}")
    if summary.states:
        facts.add_row("states", data_text(", ".join(f"{state} {count}" for state, count in summary.states.items())))
    if summary.truncated:
        facts.add_row("truncated", "[red]yes: the input ends mid-record (the last goroutine/record is partial)[/]")
    if summary.go_version_hints:
        facts.add_row("go version", data_text("; ".join(summary.go_version_hints)))
    return facts


def _top_stacks(summary: Summary) -> Table | None:
    from rich.table import Table  # here: ``inspect --json`` does not pay for rich

    if not summary.top_stacks:
        return None
    table = Table(title="Top stacks", title_justify="left")
    for column, justify in (
        ("count", "right"),
        ("state", "left"),
        ("where", "left"),
        ("created by", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for stack in summary.top_stacks:
        table.add_row(
            f"{stack.count:,}",
            data_text(stack.state),
            data_text(stack.function, LINE_BREAK, (stack.site, "dim")),
            data_text(stack.created_by),
        )
    return table


def _top_functions(summary: Summary) -> Table | None:
    from rich.table import Table  # here: ``inspect --json`` does not pay for rich

    if not summary.top_functions:
        return None
    unit = next((t.split("/")[1] for t in summary.sample_types if t.startswith(f"{summary.top_index}/")), "")
    table = Table(title=data_text(f"Top functions by flat {summary.top_index}"), title_justify="left")
    table.add_column("flat", justify="right")
    table.add_column("flat%", justify="right")
    table.add_column("function")
    for function in summary.top_functions:
        table.add_row(human_value(function.flat, unit), f"{function.flat_pct:.2f}%", data_text(function.name))
    return table


def _memstats(summary: Summary) -> Table | None:
    from rich.table import Table  # here: ``inspect --json`` does not pay for rich

    if not summary.memstats:
        return None
    table = Table(title="Runtime statistics", title_justify="left")
    table.add_column("name")
    table.add_column("value", justify="right")
    for name, value in summary.memstats.items():
        table.add_row(data_text(name), data_text(_stat(name, value)))
    return table


def _stat(name: str, value: Any) -> str:
    if isinstance(value, int) and (name.endswith(("_bytes", "alloc", "inuse", "idle", "released", "sys", "next_gc"))):
        return human_value(value, "bytes")
    return str(value)
