"""``leaksleuth snapshots list|get``: what the store holds, and any snapshot back as a file pprof opens."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from leaksleuth.errors import ConfigError

app = typer.Typer(
    help="List stored snapshots, or get one back as a file (go tool pprof opens profiles).",
    no_args_is_help=True,
    add_completion=False,
)
KINDS = ("goroutine", "goroutine-dump", "goroutineleak", "heap", "metrics", "vars")
StoreOption = Annotated[str | None, typer.Option(help="Store directory, sqlite:/// or postgresql:// URL.")]
BlobsOption = Annotated[
    str | None,
    typer.Option(help="fsspec URL to read blobs from instead of the one the store records (e.g. a copy)."),
]
# list reads the database only; --blobs is still accepted there for scripts written when it was required
ListBlobsOption = Annotated[str | None, typer.Option(hidden=True)]


@app.command("list")
def list_command(
    store: StoreOption = None,
    blobs: ListBlobsOption = None,
    target: Annotated[str | None, typer.Option(help="Only this target URL.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="goroutine, goroutine-dump, goroutineleak, heap, metrics, vars.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest N snapshots.")] = 50,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List snapshots, newest first."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    from rich.table import Table

    from leaksleuth.report.terminal import data_text, human_bytes, stdout_console
    from leaksleuth.store.db import open_store

    opened = open_store(store, blobs, create=False)
    try:
        rows = opened.snapshots(target=target, kind=kind, limit=limit)
    finally:
        opened.close()
    if json_output:
        typer.echo(json.dumps([_row_json(row) for row in rows], indent=2))
        return
    if not rows:
        stdout_console().print(
            data_text(f"no snapshots in {opened.description}" + (f" of kind {kind}" if kind else ""))
        )
        return
    table = Table(title=data_text(f"Snapshots in {opened.description}"), title_justify="left")
    for column in ("id", "taken", "target", "kind", "format", "size", "summary"):
        table.add_column(column)
    for row in rows:
        when = dt.datetime.fromtimestamp(row.taken_at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        summary = ", ".join(_summary_item(k, v) for k, v in row.summary.items())
        cells = (row.target, row.kind, row.format, human_bytes(row.size), summary)
        table.add_row(str(row.id), when, *map(data_text, cells))
    stdout_console().print(table)


def _summary_item(name: str, value: object) -> str:
    from leaksleuth.report.terminal import human_bytes  # the size column's units: one table, one style

    if name.startswith("heap") and isinstance(value, int | float):
        return f"{name}={human_bytes(value)}"
    return f"{name}={value:,}" if isinstance(value, int) else f"{name}={value}"


def _row_json(row: object) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__slots__}  # type: ignore[attr-defined]


@app.command("get")
def get_command(
    snapshot_id: Annotated[int, typer.Argument(help="Snapshot id (see 'snapshots list').")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here (default: stdout).")] = None,
    store: StoreOption = None,
    blobs: BlobsOption = None,
) -> None:
    """Write a snapshot's original bytes (a .pb.gz profile, a dump, a metrics page)."""
    from leaksleuth.report.terminal import printable
    from leaksleuth.store.db import open_store

    opened = open_store(store, blobs, create=False)
    try:
        row, data = opened.snapshot(snapshot_id)
    finally:
        opened.close()
    if output is None:
        if sys.stdout.isatty() and row.format == "pprof":
            raise typer.BadParameter("refusing to print a binary profile to a terminal; use -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    output.write_bytes(data)
    typer.echo(printable(f"wrote {output} ({len(data):,} bytes, {row.kind} of {row.target})"), err=True)
