"""``leaksleuth inspect FILE|URL``: what a profile, dump or metrics page is, and its headline numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from leaksleuth.cli.options import Timeout

if TYPE_CHECKING:
    from leaksleuth.formats import Format

FORMAT_NAMES = "pprof, goroutine-dump, count-text, heap-text, expvar, prometheus"  # formats.Format, imported late


def command(
    source: Annotated[
        str, typer.Argument(help="A file, or a URL (a base URL fetches its goroutine profile, which is cheap).")
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    top: Annotated[int, typer.Option(min=0, help="How many stacks / functions to show.")] = 5,
    timeout: Timeout = 30.0,
    format_name: Annotated[
        str | None,
        typer.Option(
            "--format", metavar="NAME", help=f"Read the input as this format instead of guessing it: {FORMAT_NAMES}."
        ),
    ] = None,
) -> None:
    """Show what a pprof profile, goroutine dump, debug=1 profile, /debug/vars or /metrics contains."""
    from leaksleuth.analysis.summary import summarize
    from leaksleuth.collect.load import load
    from leaksleuth.report import inspect as render_inspect
    from leaksleuth.report.terminal import stdout_console

    forced = _format(format_name)
    # a base URL reads debug=1: debug=2 would stop the world
    loaded = load(source, format=forced, timeout=timeout, default_path="/debug/pprof/goroutine")
    summary = summarize(loaded.parsed, source=loaded.source, size=loaded.size, top=top)
    if json_output:
        typer.echo(render_inspect.to_json(summary))
    else:
        render_inspect.render(summary, stdout_console())


def _format(name: str | None) -> Format | None:
    from leaksleuth.errors import ConfigError
    from leaksleuth.formats import Format

    if name is None:
        return None
    if name not in FORMAT_NAMES.split(", "):
        raise ConfigError(f"--format must be one of {FORMAT_NAMES}; got {name!r}")
    return Format(name)
