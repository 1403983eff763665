"""``leaksleuth heap top|diff|trend``: pprof-exact tables, leak paths and clusters, heap leaks across time and nodes.

Heavy imports (numpy, the parsers, analysis) happen inside the commands: ``leaksleuth --help`` stays instant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from leaksleuth.cli import EXIT_FINDINGS
from leaksleuth.cli.options import SourceRoots, Timeout, fraction
from leaksleuth.errors import ConfigError

if TYPE_CHECKING:
    from leaksleuth.analysis.heap.top import Granularity
    from leaksleuth.model.profile import Profile

HEAP_PATH = "/debug/pprof/heap"
# a trend compares live heaps: without a GC first, a profile shows the heap as of the last GC
HEAP_GC_PATH = "/debug/pprof/heap?gc=1"

app = typer.Typer(
    help="Heap profiles: pprof-exact top and diff, leak paths, heap leaks across time and across nodes.",
    no_args_is_help=True,
)

SampleIndex = Annotated[
    str | None, typer.Option("--sample-index", help="Sample type by name or index (heap: inuse_space).")
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NodeCount = Annotated[int, typer.Option("--nodecount", help="Show at most N rows (0 = all, like pprof -top).")]
NodeFraction = Annotated[
    float, typer.Option("--nodefraction", help="Hide nodes below this fraction of the total.", callback=fraction)
]
GranularityOption = Annotated[str, typer.Option("--granularity", help="functions, lines or files.")]
Focus = Annotated[str | None, typer.Option("--focus", help="Regex: only samples with a matching frame.")]
Ignore = Annotated[str | None, typer.Option("--ignore", help="Regex: drop samples with a matching frame.")]
Hide = Annotated[str | None, typer.Option("--hide", help="Regex: remove matching frames from stacks.")]
CUMULATIVE_HELP = (
    "Subtract like pprof -base (for cumulative profiles such as allocs): identical stacks cancel and percentages "
    "are of the difference, not of the base."
)


def load_profile(source: str, *, timeout: float = 30.0) -> Profile:
    """A pprof profile from a file or URL (a base URL fetches its heap profile)."""
    from leaksleuth.collect.load import load

    loaded = load(source, timeout=timeout, default_path=HEAP_PATH)
    if loaded.parsed.profile is None:
        raise ConfigError(
            f"{loaded.source} is {loaded.parsed.format}, not a profile",
            hint="this reads pprof profiles (/debug/pprof/heap, allocs, goroutine… or a .pb.gz file); "
            "for goroutine dumps use leaksleuth goroutines",
        )
    return loaded.parsed.profile


def load_profiles(sources: Sequence[str], *, timeout: float = 30.0) -> list[Profile]:
    """Several profiles, parsed concurrently (numpy releases the GIL for most of the work)."""
    from concurrent.futures import ThreadPoolExecutor

    if len(sources) == 1:
        return [load_profile(sources[0], timeout=timeout)]
    with ThreadPoolExecutor(max_workers=min(4, len(sources))) as pool:
        return list(pool.map(lambda source: load_profile(source, timeout=timeout), sources))


def parse_granularity(text: str) -> Granularity:
    from leaksleuth.analysis.heap.top import Granularity

    try:
        return Granularity(text)
    except ValueError:
        raise ConfigError(f"--granularity must be one of {', '.join(g.value for g in Granularity)}") from None


def compile_regex(option: str, pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{option}: invalid regular expression {pattern!r}: {exc}") from None


@app.command("top")
def top_command(
    source: Annotated[str, typer.Argument(help="A profile file or URL (a base URL fetches /debug/pprof/heap).")],
    sample_index: SampleIndex = None,
    json_output: JsonOutput = False,
    nodecount: NodeCount = 0,
    nodefraction: NodeFraction = 0.005,
    granularity: GranularityOption = "functions",
    focus: Focus = None,
    ignore: Ignore = None,
    hide: Hide = None,
    timeout: Timeout = 30.0,
) -> None:
    """Flat and cum per function (or line, or file), exactly as `go tool pprof -top` computes them."""
    from leaksleuth.analysis.heap.top import top
    from leaksleuth.report import heap as render

    level = parse_granularity(granularity)
    focus_re, ignore_re, hide_re = _filters(focus, ignore, hide)
    profile = load_profile(source, timeout=timeout)
    table = top(
        profile,
        sample_index=sample_index,
        granularity=level,
        nodecount=nodecount,
        node_fraction=nodefraction,
        focus=focus_re,
        ignore=ignore_re,
        hide=hide_re,
    )
    if json_output:
        typer.echo(json.dumps(render.top_json(table), indent=2))
    else:
        typer.echo(render.top_text(table, header=[f"Source: {source}"]))


@app.command("diff")
def diff_command(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="BASE TARGET (two profiles of one process), or 3+ profiles of one service's replicas."),
    ] = None,
    base: Annotated[str | None, typer.Option("--base", help="The earlier profile (instead of BASE).")] = None,
    target: Annotated[str | None, typer.Option("--target", help="The later profile (instead of TARGET).")] = None,
    normalize: Annotated[bool, typer.Option(help="Scale TARGET to BASE's total first (pprof -normalize).")] = False,
    cumulative: Annotated[bool, typer.Option(help=CUMULATIVE_HELP)] = False,
    sample_index: SampleIndex = None,
    json_output: JsonOutput = False,
    nodecount: NodeCount = 20,
    nodefraction: NodeFraction = 0.005,
    granularity: GranularityOption = "functions",
    focus: Focus = None,
    ignore: Ignore = None,
    hide: Hide = None,
    paths: Annotated[int, typer.Option(help="Leak paths to show.")] = 5,
    fail_on: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Fleet form: exit 1 when a suspect reaches this confidence.")
    ] = None,
    timeout: Timeout = 30.0,
) -> None:
    """TARGET - BASE like `go tool pprof -top -diff_base BASE TARGET`, plus leak paths and growing sites.

    With three or more profiles (replicas of one service), each is compared with the fleet median instead.
    """
    named = [s for s in (base, target) if s]
    given = list(sources or [])
    if named and (len(named) != 2 or given):
        raise ConfigError("give BASE TARGET as arguments, or both --base and --target")
    given = named or given
    if len(given) >= 3:
        _fleet(given, sample_index=sample_index, json_output=json_output, fail_on=fail_on, timeout=timeout)
        return
    if len(given) != 2:
        raise ConfigError("heap diff needs BASE and TARGET (or 3+ replicas for a fleet comparison)")
    from leaksleuth.analysis.heap.paths import clusters, leak_paths
    from leaksleuth.analysis.heap.sites import annotate
    from leaksleuth.analysis.heap.top import resolve_sample_index, top
    from leaksleuth.collect.source import LOCAL
    from leaksleuth.formats import profile_kind
    from leaksleuth.model.profile_ops import diff
    from leaksleuth.report import heap as render

    level = parse_granularity(granularity)
    focus_re, ignore_re, hide_re = _filters(focus, ignore, hide)
    base_profile, target_profile = load_profiles(given, timeout=timeout)
    # allocation kinds and object sizes exist only in heap and allocs profiles (not goroutine, block, mutex…)
    allocations = profile_kind(target_profile) in ("heap", "allocs")
    difference = diff(target_profile, base_profile, subtract=cumulative, normalize_first=normalize)
    del base_profile, target_profile
    table = top(
        difference,
        sample_index=sample_index,
        granularity=level,
        nodecount=nodecount,
        node_fraction=nodefraction,
        focus=focus_re,
        ignore=ignore_re,
        hide=hide_re,
    )
    index = resolve_sample_index(difference, sample_index)
    source_lines = LOCAL.lines
    annotation = annotate(difference)
    found_paths = leak_paths(difference, index, top=paths, source_lines=source_lines, annotation=annotation)
    found_clusters = (
        clusters(difference, index, source_lines=source_lines, annotation=annotation) if allocations else []
    )
    found_clusters = [c for c in found_clusters if c.growth != 0]  # an unchanged site is no lead (heap diff A A)
    is_diff = not cumulative
    if json_output:
        document = render.top_json(table)
        document.update(
            base=given[0],
            target=given[1],
            leak_paths=render.paths_json(found_paths),
            clusters=render.clusters_json(found_clusters[:20]),
        )
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(render.top_text(table, header=[f"Base: {given[0]}", f"Target: {given[1]}"]))
    if found_paths:
        typer.echo("\n" + render.paths_text(found_paths, table.unit, is_diff=is_diff, allocations=allocations))
    if found_clusters:
        typer.echo("\n" + render.clusters_text(found_clusters, table.unit, is_diff=is_diff))


def _fleet(
    sources: Sequence[str], *, sample_index: str | None, json_output: bool, fail_on: float | None, timeout: float
) -> None:
    from leaksleuth.analysis.heap.fleet import fleet_report
    from leaksleuth.collect.source import LOCAL
    from leaksleuth.report import heap as render

    repeated = sorted({s for s in sources if sources.count(s) > 1})
    if repeated:
        raise ConfigError(f"{', '.join(repeated)} given twice", hint="each replica is one node of the fleet comparison")
    profiles = load_profiles(sources, timeout=timeout)
    _same_kind(sources, profiles)
    report = fleet_report(
        list(zip(sources, profiles, strict=True)),
        sample_index=sample_index,
        source_lines=LOCAL.lines,
    )
    if json_output:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        typer.echo(render.fleet_text(report))
    if fail_on is not None and report.max_confidence() >= fail_on:
        raise typer.Exit(EXIT_FINDINGS)


@app.command("trend")
def trend_command(
    sources: Annotated[
        list[str],
        typer.Argument(help="Heap profiles of one process in time order, or one URL sampled with --every/--count."),
    ],
    every: Annotated[str | None, typer.Option(help="Sample the URL every DURATION (e.g. 10s).")] = None,
    count: Annotated[int | None, typer.Option(help="Number of samples to take from the URL.")] = None,
    sample_index: Annotated[
        str, typer.Option("--sample-index", help="inuse_space or inuse_objects (alloc_* only ever rise: refused).")
    ] = "inuse_space",
    json_output: Annotated[bool, typer.Option("--json", help="Print a leaksleuth/report@1 document.")] = False,
    fail_on: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Exit 1 when a suspect reaches this confidence (a CI gate).")
    ] = None,
    source_root: SourceRoots = None,
    timeout: Timeout = 30.0,
) -> None:
    """Which allocation sites keep growing across snapshots: Theil–Sen + Mann–Kendall, plateau and noise aware."""
    from leaksleuth.analysis.heap.trend import HeapSnapshot, heap_trend_report, trend_sample_index
    from leaksleuth.analysis.humanize import human_bytes
    from leaksleuth.analysis.source.fusion import explain
    from leaksleuth.collect.sampling import iter_sources
    from leaksleuth.collect.source import SourceFiles
    from leaksleuth.durations import parse_duration
    from leaksleuth.model.report import Report
    from leaksleuth.report import heap as render

    files = SourceFiles.from_options(source_root)
    snapshots: list[HeapSnapshot] = []
    interval = parse_duration(every) if every is not None else None
    for number, total, snapshot in iter_sources(sources, interval, count, default_path=HEAP_GC_PATH, timeout=timeout):
        profile = snapshot.loaded.parsed.profile
        if profile is None or snapshot.loaded.parsed.kind not in ("heap", "allocs"):
            raise ConfigError(
                f"{snapshot.loaded.source} is a {snapshot.loaded.parsed.kind} {snapshot.loaded.parsed.format}, "
                "not a heap profile",
                hint="heap trend follows /debug/pprof/heap snapshots of one process",
            )
        trend_sample_index(profile, sample_index)  # a lifetime counter is refused before sampling goes on
        snapshots.append(HeapSnapshot(snapshot.taken_at, profile))
        if not json_output and (every is not None or count is not None):
            in_use = human_bytes(int(profile.totals()[-1]))
            typer.echo(f"snapshot {number}/{total}: {in_use} in use", err=True)
    target = sources[0] if len(sources) == 1 else f"{sources[0]} … {sources[-1]}"
    entry = heap_trend_report(snapshots, target=target, sample_index=sample_index, source_lines=files.lines)
    entry.suspects = explain(entry.suspects, files.read)
    report = Report(targets=[entry])
    if json_output:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        typer.echo(render.trend_text(report))
    if fail_on is not None and report.max_confidence() >= fail_on:
        raise typer.Exit(EXIT_FINDINGS)


Pattern = re.Pattern[str] | None


def _same_kind(sources: Sequence[str], profiles: Sequence[Profile]) -> None:
    """Comparing replicas only makes sense for one kind of profile (heap with heap, allocs with allocs)."""
    from leaksleuth.formats import profile_kind

    kinds = {profile_kind(p) for p in profiles}
    types = {tuple(str(t) for t in p.sample_types) for p in profiles}
    if len(kinds) > 1 or len(types) > 1:
        found = ", ".join(f"{source}: {profile_kind(p)}" for source, p in zip(sources, profiles, strict=True))
        raise ConfigError(f"cannot compare different kinds of profile ({found})")


def _filters(focus: str | None, ignore: str | None, hide: str | None) -> tuple[Pattern, Pattern, Pattern]:
    return compile_regex("--focus", focus), compile_regex("--ignore", ignore), compile_regex("--hide", hide)
