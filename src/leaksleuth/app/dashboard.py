"""The dashboard's view-models: what the fleet and instance pages show, built from the store and the live watch.

Plain data, no HTML: the templates in ``web/templates`` render it (escaping every string) and the tests assert on
it. The store is the history every replica shares (targets, series, snapshots, captures); the live watch adds what
only the watching process holds in memory (the latest verdicts, goroutine buckets, heap site trends). A target the
store knows but this process does not watch is still listed, with its last scrape status and no verdict.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leaksleuth.analysis.advice import advice_for
from leaksleuth.analysis.restarts import COUNTERS, PROCESS_START, started_over
from leaksleuth.model.report import Suspect, TargetReport
from leaksleuth.model.verdict import verdict_of
from leaksleuth.model.views import InstanceFacts

if TYPE_CHECKING:
    from leaksleuth.app.instance import InstanceState
    from leaksleuth.app.live import LiveFleet
    from leaksleuth.store.db import SnapshotRow, Store, TargetRow
    from leaksleuth.store.replicas import VerdictRow
    from leaksleuth.store.reports import ReportRow

SPARK_POINTS = 40  # recent values a sparkline draws
CHART_SERIES = ("goroutines", "heap_inuse", "rss_bytes", "num_gc")
MAX_BUCKETS = 30
MAX_SITES = 30
MAX_DOWNLOADS = 60  # newest snapshots listed for download (every heap profile is on the chart)
SORTS = ("severity", "target", "goroutines", "heap", "restarts")
_RESTART_SERIES = (PROCESS_START, *COUNTERS)


@dataclass(slots=True)
class FleetRow:
    target_id: int
    url: str
    service: str
    verdict: str  # model.report.verdict_of, or "not watched" when this process does not watch it
    confidence: float
    top: Suspect | None
    goroutines: list[float]
    heap_inuse: list[float]
    restarts: int
    status: str
    error: str | None
    last_seen: float | None
    judged_by: str = ""  # another replica (--scale-out) whose stored verdict this row shows

    def matches(self, needle: str) -> bool:
        text = [self.url, self.service, self.verdict, self.status]
        if self.top is not None:
            text += [self.top.function, f"{self.top.file}:{self.top.line}", self.top.category]
        return any(needle in item.lower() for item in text)


@dataclass(slots=True)
class FleetView:
    groups: list[tuple[str, list[FleetRow]]]
    total: int
    shown: int
    counts: dict[str, int]  # verdict -> instances
    round: int
    round_at: float | None
    watching: bool
    query: str = ""
    sort: str = "severity"


def fleet_view(store: Store, live: LiveFleet | None, *, query: str = "", sort: str = "severity") -> FleetView:
    """Every instance grouped by service; ``query`` keeps rows mentioning it, ``sort`` orders rows in a group."""
    rows = fleet_rows(store, live)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    needle = query.strip().lower()
    shown = [row for row in rows if row.matches(needle)] if needle else rows
    order = sort if sort in SORTS else "severity"
    shown.sort(key=_sort_key(order))
    groups: dict[str, list[FleetRow]] = {}
    for row in shown:
        groups.setdefault(row.service or "(no service)", []).append(row)
    # the group holding the worst instance first, so a page opened when paged starts with the problem
    ordered = sorted(groups.items(), key=lambda item: (-max(r.confidence for r in item[1]), item[0]))
    live_round = live.round if live else 0
    return FleetView(ordered, len(rows), len(shown), counts, live_round, live.round_at if live else None, bool(live))


def _sort_key(sort: str) -> Any:
    if sort == "target":
        return lambda row: row.url
    if sort == "goroutines":
        return lambda row: (-(row.goroutines[-1] if row.goroutines else 0.0), row.url)
    if sort == "heap":
        return lambda row: (-(row.heap_inuse[-1] if row.heap_inuse else 0.0), row.url)
    if sort == "restarts":
        return lambda row: (-row.restarts, row.url)
    return lambda row: (row.status == "ok", -row.confidence, row.url)  # failing scrapes, then the most confident


def fleet_rows(store: Store, live: LiveFleet | None) -> list[FleetRow]:
    """Every target in the store: this process's live verdict, else the one another replica stored."""
    verdicts = {t.target: t for t in live.report.targets} if live else {}
    states = {state.url: state for state in live.watcher.current()} if live else {}
    stored = store.verdicts()
    rows = []
    for known in store.targets():
        verdict = verdicts.get(known.url)
        judged_by = ""
        if verdict is None and known.url in stored:
            verdict, judged_by = stored_report(stored[known.url]), stored[known.url].member
        row = _row(known, verdict, states.get(known.url))
        row.judged_by = judged_by
        rows.append(row)
    return rows


def stored_report(row: VerdictRow) -> TargetReport:
    document = row.document
    suspects = [Suspect.from_json(s) for s in document.get("suspects", [])]
    facts = InstanceFacts.from_json(document)
    return TargetReport(
        row.url, document["status"], int(document["snapshots"]), document.get("error"), suspects, instance=facts
    )


def _row(known: TargetRow, verdict: TargetReport | None, state: InstanceState | None) -> FleetRow:
    goroutines = state.series.values("goroutines")[-SPARK_POINTS:] if state else []
    heap = state.series.values("heap_inuse")[-SPARK_POINTS:] if state else []
    if verdict is None:
        return FleetRow(
            known.id,
            known.url,
            known.service,
            "not watched",
            0.0,
            None,
            goroutines,
            heap,
            0,
            known.status,
            known.error,
            known.last_seen,
        )
    ranked = verdict.ranked()
    return FleetRow(
        known.id,
        known.url,
        known.service or (verdict.instance.service if verdict.instance else ""),
        verdict_of(verdict.status, verdict.snapshots, verdict.top_confidence),
        verdict.top_confidence,
        ranked[0] if ranked else None,
        goroutines,
        heap,
        verdict.instance.restarts if verdict.instance else 0,
        verdict.status,
        verdict.error,
        known.last_seen,
    )


# ---- one instance ----------------------------------------------------------------------------------------------
@dataclass(slots=True)
class SuspectView:
    suspect: Suspect
    advice: str
    evidence: list[tuple[str, str]]  # (name, value as text), in the suspect's order


@dataclass(slots=True)
class BucketView:
    count: int
    change: int  # since the first snapshot of the current process in the window
    state: str
    wait: str  # "3–12 min", "" when unknown
    function: str
    where: str
    created_by: str
    leaked: int


@dataclass(slots=True)
class SiteView:
    function: str
    where: str
    inuse: int
    change: int
    user_code: bool


@dataclass(slots=True)
class InstanceView:
    target: TargetRow
    verdict: str
    confidence: float
    suspects: list[SuspectView]
    chart: dict[str, Any]  # {"times": [...], name: [...], "restarts": [...], "captures": [...], "heap": [[t, id]]}
    buckets: list[BucketView]
    sites: list[SiteView]
    downloads: list[SnapshotRow]
    captures: list[ReportRow]
    watched: bool
    notes: list[str] = field(default_factory=list)


def instance_view(store: Store, live: LiveFleet | None, target_id: int) -> InstanceView | None:
    known = next((t for t in store.targets() if t.id == target_id), None)
    if known is None:
        return None
    verdict = live.target(known.url) if live else None
    state = live.watcher.watching(known.url) if live else None
    notes = list(verdict.instance.notes) if verdict and verdict.instance else []
    if verdict is None and (stored := store.verdicts().get(known.url)) is not None:
        verdict = stored_report(stored)
        notes.insert(
            0,
            f"Watched by replica {stored.member}: its verdict as of {_clock(stored.updated_at)} "
            "(goroutine buckets and heap sites are on its own page).",
        )
    heap_snapshots = store.snapshots(target=known.url, kind="heap", newest_first=False)
    captures = [r for r in store.report_summaries(limit=1000) if r.target == known.url]
    chart = chart_data(store.series(known.url, [*CHART_SERIES, *_RESTART_SERIES]))
    chart["captures"] = [r.created_at for r in captures]
    chart["heap"] = [[s.taken_at, s.id] for s in heap_snapshots]
    suspects = [_suspect_view(s) for s in verdict.ranked()] if verdict else []
    return InstanceView(
        known,
        verdict_of(verdict.status, verdict.snapshots, verdict.top_confidence) if verdict else "not watched",
        verdict.top_confidence if verdict else 0.0,
        suspects,
        chart,
        _buckets(state) if state else [],
        _sites(state) if state else [],
        store.snapshots(target=known.url, limit=MAX_DOWNLOADS),
        captures,
        watched=verdict is not None,
        notes=notes,
    )


def _clock(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(moment))


def chart_data(series: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    """The series on one shared time axis (uPlot's aligned columns, None where a round lacks a value), and the
    moments a new process began (its start time moved, or a lifetime counter went down)."""
    times = sorted({t for points in series.values() for t, _ in points})
    position = {t: i for i, t in enumerate(times)}
    data: dict[str, Any] = {"times": times}
    for name in CHART_SERIES:
        column: list[float | None] = [None] * len(times)
        for t, value in series.get(name, ()):
            column[position[t]] = value if math.isfinite(value) else None
        data[name] = column
    restarts: set[float] = set()
    for name in _RESTART_SERIES:
        points = series.get(name, [])
        restarts.update(t for (_, before), (t, now) in itertools.pairwise(points) if started_over(name, before, now))
    data["restarts"] = sorted(restarts)
    return data


def _suspect_view(suspect: Suspect) -> SuspectView:
    evidence = [(name, _text(value)) for name, value in suspect.evidence.rows()]
    return SuspectView(suspect, advice_for(suspect.category), evidence)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and len(value) > 12:
        return ", ".join(_text(v) for v in value[:12]) + f", … ({len(value)} in all)"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in list(value.items())[:12])
    return str(value)


def _buckets(state: InstanceState) -> list[BucketView]:
    window = state.window
    start = window.last_segment()
    views = []
    for history in window.histories():
        counts: Sequence[int] = history.counts
        now = counts[-1] if counts else 0
        if now == 0:
            continue
        bucket = history.latest
        blocking = bucket.blocking
        wait = ""
        if bucket.wait_min is not None and bucket.wait_max is not None:
            wait = (
                f"{bucket.wait_min}–{bucket.wait_max} min"
                if bucket.wait_max != bucket.wait_min
                else f"{bucket.wait_max} min"
            )
        state_name = ", ".join(f"{name} ×{n}" for name, n in bucket.states.most_common(2)) or bucket.state_class
        creator = bucket.created_by or bucket.origin
        views.append(
            BucketView(
                now,
                now - counts[start] if start < len(counts) else 0,
                state_name,
                wait,
                blocking.function if blocking else (bucket.frames[0].function if bucket.frames else ""),
                f"{blocking.file}:{blocking.line}" if blocking else "",
                f"{creator.function} ({creator.file}:{creator.line})" if creator else "",
                bucket.leaked,
            )
        )
    views.sort(key=lambda b: (-b.count, b.function))
    return views[:MAX_BUCKETS]


def _sites(state: InstanceState) -> list[SiteView]:
    views = []
    for site, before, now in state.heap.site_ends():
        if now > 0:
            views.append(SiteView(site.function, site.where(), now, now - before, site.user_code))
    views.sort(key=lambda s: (-s.inuse, s.where))
    return views[:MAX_SITES]


# ---- self-healing ----------------------------------------------------------------------------------------------
@dataclass(slots=True)
class HealAction:
    """One self-healing decision (``app.heal_records.Decision`` as stored): done, dry-run, refused, waiting, failed."""

    id: int
    at: float
    pod: str  # namespace/name
    workload: str
    trigger: str
    action: str
    result: str
    reason: str
    report_id: int | None  # the capture it acted on


def heal_actions(store: Store, *, limit: int = 500) -> list[HealAction]:
    """The newest self-healing decisions in the store, whoever made them (``heal --k8s`` or ``serve --heal``)."""
    actions = []
    for row in store.reports(limit=limit, source="heal"):
        entry = row.document
        report_id = entry.get("report_id")
        actions.append(
            HealAction(
                row.id,
                row.created_at,
                f"{entry.get('namespace', '')}/{entry.get('pod', '')}",
                str(entry.get("workload") or ""),
                str(entry.get("trigger", "")),
                str(entry.get("action", "")),
                str(entry.get("result", "")),
                str(entry.get("reason", "")),
                report_id if isinstance(report_id, int) else None,
            )
        )
    return actions
