"""``leaksleuth goroutines SOURCE...`` and ``leaksleuth goroutines diff A B``: goroutine leak suspects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from leaksleuth.cli import EXIT_FINDINGS
from leaksleuth.cli.options import MinGrowth, SourceRoots, Timeout
from leaksleuth.collect import DEBUG2_THRESHOLD
from leaksleuth.errors import ConfigError

if TYPE_CHECKING:
    from leaksleuth.analysis.goroutines.buckets import Similarity


def command(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Files (debug=2 dumps, debug=1 or proto goroutine/goroutineleak profiles) or URLs (a service's base "
            "URL, or a full profile URL). Several sources = snapshots of one instance. `diff A B` compares two.",
        ),
    ],
    every: Annotated[str | None, typer.Option(help="Sample the URL every DURATION (e.g. 10s).")] = None,
    count: Annotated[int | None, typer.Option(help="Number of samples to take from the URL.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a leaksleuth/report@1 document.")] = False,
    top: Annotated[int, typer.Option(min=0, help="Buckets to show in the table (0: all).")] = 15,
    similarity: Annotated[
        str,
        typer.Option(
            help="Bucket similarity: any-value (functions and files; lines and arguments ignored, so buckets line up "
            "across redeploys), any-pointer (also lines and non-pointer arguments) or exact (also every argument)."
        ),
    ] = "any-value",
    ignore_function: Annotated[
        list[str] | None, typer.Option(help="Regex: ignore buckets with a frame matching it (repeatable).")
    ] = None,
    ignore_created_by: Annotated[
        list[str] | None, typer.Option(help="Regex: ignore buckets whose creator matches it (repeatable).")
    ] = None,
    fail_on: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Exit 1 when a suspect reaches this confidence (a CI gate).")
    ] = None,
    debug2_threshold: Annotated[
        int, typer.Option(help="Fetch a debug=2 dump (stops the world) only below this many goroutines.")
    ] = DEBUG2_THRESHOLD,
    min_growth: MinGrowth = 5,
    source_root: SourceRoots = None,
    timeout: Timeout = 30.0,
) -> None:
    """Rank goroutine leak suspects: where goroutines are stuck, where they were created, how sure, what to do."""
    if sources and sources[0] == "diff":  # a file named "diff" is ./diff
        extra = {
            "--every": every,
            "--count": count,
            "--fail-on": fail_on,
            "--ignore-function": ignore_function,
            "--ignore-created-by": ignore_created_by,
            "--source-root": source_root,
        }
        unused = [name for name, value in extra.items() if value]
        if unused:
            raise ConfigError(f"goroutines diff does not take {', '.join(unused)}")
        _diff(sources[1:], json_output=json_output, similarity=similarity, top=top, timeout=timeout)
        return
    from leaksleuth.analysis.goroutines.verdict import Options, evaluate
    from leaksleuth.analysis.source.fusion import explain
    from leaksleuth.app.goroutine_sources import collect
    from leaksleuth.collect.source import SourceFiles
    from leaksleuth.durations import parse_duration
    from leaksleuth.report import goroutines as render
    from leaksleuth.report.terminal import stderr_console, stdout_console

    level = parse_similarity(similarity)
    files = SourceFiles.from_options(source_root)  # a bad --source-root fails before any sampling

    def progress(index: int, total: int, snapshot: object) -> None:
        if total > 1 and not json_output:  # (rich only when it prints: ``--json`` has no use for it)
            stderr_console().print(f"[dim]snapshot {index}/{total}: {getattr(snapshot, 'total', 0):,} goroutines[/]")

    collected = collect(
        sources,
        every=parse_duration(every) if every is not None else None,
        count=count,
        similarity=level,
        timeout=timeout,
        debug2_threshold=debug2_threshold,
        progress=progress,
    )
    options = Options(
        min_growth=min_growth,
        ignore_functions=tuple(ignore_function or ()),
        ignore_created_by=tuple(ignore_created_by or ()),
    )
    suspects, histories = evaluate(collected.snapshots, options=options, source_line=files.line)
    suspects = explain(suspects, files.read)
    target = sources[0] if len(set(sources)) == 1 else ", ".join(sources)
    if json_output:
        import json  # here: the table does not pay for it

        report = render.build_report(target, collected.snapshots, suspects, histories, collected.notes)
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        render.render(
            stdout_console(), target, collected.snapshots, suspects, histories, collected.notes, top=top or None
        )
    if fail_on is not None and any(s.confidence >= fail_on for s in suspects):
        raise typer.Exit(EXIT_FINDINGS)


def parse_similarity(text: str) -> Similarity:
    from leaksleuth.analysis.goroutines.buckets import Similarity

    try:
        return Similarity(text)
    except ValueError:
        raise ConfigError(f"--similarity must be one of {', '.join(s.value for s in Similarity)}") from None


DIFF_SCHEMA = "leaksleuth/goroutine-diff@1"


def _diff(sources: list[str], *, json_output: bool, similarity: str, top: int, timeout: float) -> None:
    from leaksleuth.analysis.goroutines.diff import diff_snapshots
    from leaksleuth.app.goroutine_sources import TRUNCATED_NOTE, snapshots_of
    from leaksleuth.report.goroutine_diff import render_diff, to_json
    from leaksleuth.report.terminal import data_text, stderr_console, stdout_console

    if len(sources) != 2:
        raise ConfigError("usage: leaksleuth goroutines diff BASE TARGET")
    level = parse_similarity(similarity)
    base, target = snapshots_of(sources, level, timeout)
    rows = diff_snapshots(base, target)
    notes = [f"{TRUNCATED_NOTE} ({name})" for name, s in zip(sources, (base, target), strict=True) if s.truncated]
    for note in notes:
        stderr_console().print(data_text(f"note: {note}"))
    if json_output:
        import json

        document = {"schema": DIFF_SCHEMA, **to_json(sources[0], sources[1], base, target, rows), "notes": notes}
        typer.echo(json.dumps(document, indent=2))
    else:
        render_diff(stdout_console(), sources[0], sources[1], base, target, rows, top=top or len(rows))
