"""Render ``goroutines diff``: a growth table, or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from leaksleuth.analysis.goroutines.buckets import GoroutineSnapshot
from leaksleuth.analysis.goroutines.diff import DiffRow
from leaksleuth.report.terminal import LINE_BREAK, data_text


def to_json(
    base_name: str, target_name: str, base: GoroutineSnapshot, target: GoroutineSnapshot, rows: Sequence[DiffRow]
) -> dict[str, Any]:
    return {
        "base": {"source": base_name, "goroutines": base.total},
        "target": {"source": target_name, "goroutines": target.total},
        "rows": [{**asdict(row), "delta": row.delta} for row in rows],
    }


def render_diff(
    console: Console,
    base_name: str,
    target_name: str,
    base: GoroutineSnapshot,
    target: GoroutineSnapshot,
    rows: Sequence[DiffRow],
    *,
    top: int = 20,
) -> None:
    console.print(
        data_text(
            (base_name, "bold"),
            f" {base.total:,} → ",
            (target_name, "bold"),
            f" {target.total:,} goroutines ({target.total - base.total:+,})",
        )
    )
    table = Table(title="Growth by bucket", title_justify="left")
    for column, justify in (
        ("base", "right"),
        ("target", "right"),
        ("delta", "right"),
        ("state", "left"),
        ("blocked at", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    changed = [row for row in rows if row.delta] or list(rows)
    for row in changed[:top]:
        colour = "red" if row.delta > 0 else "green" if row.delta < 0 else "dim"
        table.add_row(
            f"{row.base:,}",
            f"{row.target:,}",
            data_text(f"{row.delta:+,}", style=colour),
            data_text(row.state),
            data_text(row.function, LINE_BREAK, (f"{row.file}:{row.line}", "dim")),
        )
    console.print(table)
