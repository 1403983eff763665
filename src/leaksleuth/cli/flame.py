"""``leaksleuth flame SOURCE [--diff-base BASE] -o out.html``: a self-contained flame graph page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leaksleuth.cli.options import Timeout, fraction
from leaksleuth.errors import ConfigError


def command(
    source: Annotated[str, typer.Argument(help="A profile file or URL (a base URL fetches /debug/pprof/heap).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")],
    diff_base: Annotated[
        str | None, typer.Option("--diff-base", help="Show SOURCE - BASE: growth red, shrink blue.")
    ] = None,
    sample_index: Annotated[
        str | None, typer.Option("--sample-index", help="Sample type by name or index (heap: inuse_space).")
    ] = None,
    granularity: Annotated[str, typer.Option(help="functions, lines or files.")] = "functions",
    min_fraction: Annotated[
        float,
        typer.Option(help="Fold frames narrower than this fraction of the total (0 keeps all).", callback=fraction),
    ] = 0.0005,
    title: Annotated[str | None, typer.Option(help="Page title (default: the source).")] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Write a flame graph of a profile (or of a diff) as one HTML file that works offline: zoom and search."""
    from leaksleuth.analysis.heap.flame import flame_graph
    from leaksleuth.cli.heap import load_profiles, parse_granularity
    from leaksleuth.model.profile_ops import diff
    from leaksleuth.report.flame import render_html

    if output.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--output {output}: the flame graph is an HTML page, name it *.html")
    level = parse_granularity(granularity)
    if diff_base:
        base, current = load_profiles([diff_base, source], timeout=timeout)
        profile = diff(current, base)
        heading = title or f"{source} - {diff_base}"
    else:
        (profile,) = load_profiles([source], timeout=timeout)
        heading = title or source
    graph = flame_graph(profile, sample_index=sample_index, granularity=level, min_fraction=min_fraction)
    try:
        output.write_text(render_html(graph, title=heading), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
    typer.echo(f"wrote {output} ({len(graph.root.walk()) - 1:,} frames)", err=True)
