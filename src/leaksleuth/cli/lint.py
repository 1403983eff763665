"""``leaksleuth lint PATH...``: the Go source leak patterns alone, for CI (terminal, ``--json`` or ``--sarif``).

Exit codes as every command: 0 when no finding reached ``--fail-on`` (``warning`` unless told: a linter in CI fails
on what it reports, as ``go vet`` does; ``never`` only reports), 1 when one did, 2 on bad usage, 3 when a file could
not be read (the findings of the others are still printed: a gate never mistakes "could not look" for "clean").
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from leaksleuth.cli import EXIT_ERROR, EXIT_FINDINGS
from leaksleuth.errors import ConfigError

FAIL_ON = ("note", "warning", "error", "never")


def command(
    paths: Annotated[list[str], typer.Argument(help="Go files or directories (walked like `go vet ./...`).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print a leaksleuth/lint@1 document.")] = False,
    sarif: Annotated[bool, typer.Option("--sarif", help="Print a SARIF 2.1.0 log (for code-scanning UIs).")] = False,
    fail_on: Annotated[
        str, typer.Option(help="Exit 1 when a finding is at least this severe: note, warning, error or never.")
    ] = "warning",
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="Skip files and directories matching this glob (path or base name; repeatable)."),
    ] = None,
) -> None:
    """Find goroutine and heap leak patterns in Go source: `//leaksleuth:ignore SLUG REASON` silences one line."""
    from leaksleuth.analysis.source.findings import SEVERITIES
    from leaksleuth.analysis.source.lint import lint_source
    from leaksleuth.collect.source import go_files
    from leaksleuth.report import lint as render
    from leaksleuth.report.terminal import stdout_console

    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}")
    if json_output and sarif:
        raise ConfigError("--json and --sarif are two formats: give one")
    result = render.LintResult()
    for source in go_files(paths, exclude or ()):
        if source.skipped is not None:
            result.skipped.append((source.path, source.skipped))
            continue
        if source.data is None:
            result.unreadable.append((source.path, source.error or "unreadable"))
            continue
        result.files += 1
        result.lines += source.data.count(b"\n")
        result.findings.extend(lint_source(source.path, source.data))
    if json_output or sarif:
        document = render.to_sarif(result) if sarif else render.to_json(result)
        typer.echo(json.dumps(document, indent=2))
    else:
        render_console = stdout_console()
        render.render_terminal(render_console, result)
    if result.unreadable:
        raise typer.Exit(EXIT_ERROR)
    floor = next((s for s in SEVERITIES if s == fail_on), None)  # None: never
    if floor is not None and result.at_or_above(floor):
        raise typer.Exit(EXIT_FINDINGS)
