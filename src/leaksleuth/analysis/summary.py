"""What a blob is, at a glance: the view-model behind ``leaksleuth inspect``."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leaksleuth.analysis.goroutines.states import blocking_frame, classify_state
from leaksleuth.formats import Format, Parsed

if TYPE_CHECKING:  # numpy (under Profile) only when a profile is summarised: a dump's inspect never imports it
    from leaksleuth.model.goroutines import GoroutineDump, Stack
    from leaksleuth.model.memstats import MemStats
    from leaksleuth.model.profile import Profile


@dataclass(slots=True)
class StackSummary:
    count: int
    state: str  # how the goroutines wait, as a slug (chan-send, select, io-wait): the same for dumps and profiles
    function: str
    site: str
    created_by: str


@dataclass(slots=True)
class FunctionSummary:
    name: str
    flat: int
    flat_pct: float


@dataclass(slots=True)
class Summary:
    source: str
    format: str
    kind: str
    size: int
    compressed: bool
    sample_types: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    sample_count: int | None = None
    period: str | None = None
    duration_seconds: float | None = None
    time_nanos: int | None = None
    goroutines: int | None = None
    states: dict[str, int] = field(default_factory=dict)
    top_stacks: list[StackSummary] = field(default_factory=list)
    top_functions: list[FunctionSummary] = field(default_factory=list)
    top_index: str | None = None
    memstats: dict[str, int | float | str] = field(default_factory=dict)
    gc: dict[str, Any] = field(default_factory=dict)  # model.runtime.GcFacts as JSON (pauses, GOGC, …)
    runtime_findings: list[dict[str, Any]] = field(default_factory=list)  # gc-health findings: never a suspect
    go_version_hints: list[str] = field(default_factory=list)
    truncated: bool = False
    other_text: list[str] = field(default_factory=list)


def summarize(parsed: Parsed, *, source: str = "", size: int = 0, top: int = 5) -> Summary:
    summary = Summary(source, str(parsed.format), parsed.kind, size, parsed.compressed)
    if parsed.dump is not None:
        _summarize_dump(summary, parsed.dump, top)
    if parsed.profile is not None:
        _summarize_profile(summary, parsed.profile, top)
    if parsed.memstats is not None:
        _summarize_memstats(summary, parsed.memstats)
    return summary


def _summarize_dump(summary: Summary, dump: GoroutineDump, top: int) -> None:
    summary.goroutines = len(dump.goroutines)
    summary.states = dict(dump.states().most_common())
    summary.truncated = dump.truncated
    summary.other_text = dump.other_text[:10]
    printed: Counter[tuple[Stack, str]] = Counter((g.stack, g.state) for g in dump.goroutines)
    by_stack: Counter[tuple[Stack, str]] = Counter()
    for (stack, state), count in printed.items():  # by state class, as for profiles, which print no state
        by_stack[(stack, classify_state(state, stack.frames))] += count
    for (stack, state), count in by_stack.most_common(top):
        frame = blocking_frame(stack.frames)  # the line goroutine analysis names, as for profiles
        created = stack.created_by
        summary.top_stacks.append(
            StackSummary(
                count,
                state,
                frame.function if frame else "?",
                frame.site() if frame else "",
                created.function if created else "",
            )
        )
    summary.go_version_hints = _dump_version_hints(dump)


def _summarize_profile(summary: Summary, profile: Profile, top: int) -> None:
    summary.sample_types = [str(t) for t in profile.sample_types]
    summary.sample_count = len(profile.samples)
    summary.totals = {t.type: total for t, total in zip(profile.sample_types, profile.totals(), strict=True)}
    if profile.period_type is not None:
        summary.period = f"{profile.period} {profile.period_type.unit}"
    if profile.duration_nanos:
        summary.duration_seconds = profile.duration_nanos / 1e9
    summary.time_nanos = profile.time_nanos or None
    if summary.kind in ("goroutine", "goroutineleak"):
        summary.goroutines = summary.totals.get(summary.kind)
        summary.top_stacks = _profile_stacks(profile, top)  # runtime.gopark owns every flat: show where they wait
    else:
        index = profile.sample_index(None)
        summary.top_index = profile.sample_types[index].type
        summary.top_functions = _flat_functions(profile, index, top)
    paths = {f.filename for f in profile.functions}
    summary.go_version_hints = _path_version_hints(paths)
    if summary.kind == "goroutineleak":
        summary.go_version_hints.append("goroutineleak profile: Go >= 1.26")
    if profile.truncated:
        summary.truncated = True


def _profile_stacks(profile: Profile, top: int) -> list[StackSummary]:
    from leaksleuth.analysis.goroutines.snapshots import snapshot_from_profile  # the buckets: a dump needs none

    stacks = []
    for bucket in snapshot_from_profile(profile).by_count()[:top]:
        frame = bucket.blocking
        stacks.append(
            StackSummary(
                bucket.count, bucket.state_class, frame.function if frame else "?", frame.site() if frame else "", ""
            )
        )
    return stacks


def _flat_functions(profile: Profile, index: int, top: int) -> list[FunctionSummary]:
    """Top functions by flat value, computed and ordered like ``go tool pprof -top`` (``analysis.top``), flat != 0;
    only the flat values: no cum, no inline markers."""
    from leaksleuth.analysis.heap.top import build_node_index, flat_values, percent
    from leaksleuth.model.profile_ops import report_total

    nodes = build_node_index(profile)
    flat = flat_values(profile, index, nodes).tolist()
    shown = sorted((node for node, value in enumerate(flat) if value), key=lambda n: (-abs(flat[n]), nodes.names[n]))
    total = report_total(profile, index)
    return [FunctionSummary(nodes.names[n], flat[n], percent(flat[n], total)) for n in shown[:top]]


def _summarize_memstats(summary: Summary, stats: MemStats) -> None:
    from leaksleuth.analysis.runtime_health import gc_findings, gc_from_memstats  # a dump has no memstats

    summary.memstats = stats.known()
    gc = gc_from_memstats(stats)
    summary.gc = gc.to_json()
    summary.runtime_findings = [finding.to_json() for finding in gc_findings(gc)]
    if stats.goroutines is not None and summary.goroutines is None:
        summary.goroutines = stats.goroutines
    if stats.go_version:
        summary.go_version_hints.append(f"go_info: {stats.go_version}")


_GOROOT_VERSION = re.compile(r"/go(1\.\d+(?:\.\d+)?)/")


def _path_version_hints(paths: set[str]) -> list[str]:
    hints = sorted({f"GOROOT path mentions go{m.group(1)}" for p in paths if (m := _GOROOT_VERSION.search(p))})
    return hints[:3]


def _dump_version_hints(dump: GoroutineDump) -> list[str]:
    hints: list[str] = []
    if any(g.leaked for g in dump.goroutines):
        hints.append("'(leaked)' goroutines: Go >= 1.26 with leak detection")
    if any(g.parent_id is not None for g in dump.goroutines):
        hints.append("'created by … in goroutine N': Go >= 1.21")
    if any(g.synctest_bubble is not None for g in dump.goroutines):
        hints.append("synctest bubbles: Go >= 1.25")
    paths = {frame.file for stack in dump.stacks() for frame in stack.frames}
    hints.extend(_path_version_hints(paths))
    return hints


__all__ = ["Format", "Summary", "summarize"]
