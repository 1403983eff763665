"""``leaksleuth inspect FILE|URL``: what a profile, dump or metrics page is, and its headline numbers."""

from __future__ import annotations

from typing import Annotated

import typer


def command(
    source: Annotated[
        str, typer.Argument(help="A file, or a URL (a base URL fetches its goroutine profile, which is cheap).")
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    top: Annotated[int, typer.Option(help="How many stacks / functions to show.")] = 5,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a URL.")] = 30.0,
) -> None:
    """Show what a pprof profile, goroutine dump, debug=1 profile, /debug/vars or /metrics contains."""
    from leaksleuth.analysis.summary import summarize
    from leaksleuth.collect.load import load
    from leaksleuth.report import inspect as render_inspect
    from leaksleuth.report.terminal import stdout_console

    loaded = load(source, timeout=timeout, default_path="/debug/pprof/goroutine")  # debug=2 would stop the world
    summary = summarize(loaded.parsed, source=loaded.source, size=loaded.size, top=top)
    if json_output:
        typer.echo(render_inspect.to_json(summary))
    else:
        render_inspect.render(summary, stdout_console())
