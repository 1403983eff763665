"""Watch output: the live table, the end-of-watch verdicts, and JSON-lines finding events for log pipelines.

Every cell is a ``rich.text.Text``, never markup: URLs (``http://[fd00::7]:6060``), error bodies, function names and
file paths come from the targets, and ``[`` in them would be read as a style tag (or crash the table); data goes
through ``report.terminal.data_text``, which also shows control characters as escapes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from leaksleuth.analysis.humanize import human_bytes
from leaksleuth.model.evidence import GoroutineEvidence
from leaksleuth.model.report import Report, Suspect, TargetReport
from leaksleuth.model.verdict import SUSPECT_CONFIDENCE, iso_z, verdict_of
from leaksleuth.model.views import InstanceFacts
from leaksleuth.report.terminal import LINE_BREAK, VERDICT_STYLE, data_text

if TYPE_CHECKING:
    from leaksleuth.collect.scrape_config import ScrapeResult


def _trend(points: Sequence[float]) -> str:
    """A tiny sparkline of the last values (goroutines)."""
    if len(points) < 2:
        return ""
    blocks = "▁▂▃▄▅▆▇█"
    recent = list(points[-16:])
    low, high = min(recent), max(recent)
    span = (high - low) or 1.0
    return "".join(blocks[min(7, int((value - low) / span * 7.999))] for value in recent)


def _facts(target: TargetReport) -> InstanceFacts:
    return target.instance or InstanceFacts()


def verdict_word(target: TargetReport) -> str:
    return verdict_of(target.status, target.snapshots, target.top_confidence)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def live_table(
    report: Report,
    series: dict[str, list[float]],
    *,
    round_number: int,
    seconds: float,
    busy: int = 0,
    departed: int = 0,
) -> RenderableType:
    """One row per current target. ``busy``: targets this round skipped (still scraping the last one);
    ``departed``: targets discovery dropped (kept for the final report only)."""
    title = f"leaksleuth watch — round {round_number} ({seconds:.1f}s)"
    title += "".join(f", {count} {what}" for count, what in ((busy, "busy"), (departed, "departed")) if count)
    table = Table(title=Text(title), title_justify="left")
    services = any(_facts(t).service for t in report.targets)
    missed = any(_facts(t).missed_rounds for t in report.targets)
    columns = [
        ("target", "left"),
        ("service", "left"),
        ("goroutines", "right"),
        ("goroutine trend", "left"),
        ("heap in use", "right"),
        ("missed", "right"),
        ("verdict", "left"),
        ("top suspect", "left"),
    ]
    keep = [(name != "service" or services) and (name != "missed" or missed) for name, _ in columns]
    for (column, justify), kept in zip(columns, keep, strict=True):
        if kept:
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for target in sorted(report.targets, key=_severity):
        row = _row(target, series.get(target.target, []))
        table.add_row(*(cell for cell, kept in zip(row, keep, strict=True) if kept))
    return Group(table, Text(f"updated {time.strftime('%H:%M:%S')} — Ctrl-C writes the report", style="dim"))


def _severity(target: TargetReport) -> tuple[float, str]:
    top = target.suspects[0].confidence if target.suspects else 0.0
    return (-top if target.status == "ok" else -2.0, target.target)


def _row(target: TargetReport, goroutine_points: Sequence[float]) -> list[Text]:
    facts = _facts(target)
    word = verdict_word(target)
    missed = Text(str(facts.missed_rounds or ""), style="yellow")
    if target.status != "ok":
        empty = Text()
        return [
            data_text(target.target),
            data_text(facts.service),
            empty,
            empty,
            empty,
            missed,
            data_text(word, style="red"),
            data_text(target.error or ""),
        ]
    top = target.suspects[0] if target.suspects and target.suspects[0].confidence >= SUSPECT_CONFIDENCE else None
    return [
        data_text(target.target),
        data_text(facts.service),
        Text(f"{facts.goroutines:,}"),
        Text(_trend(goroutine_points)),
        Text(heap_cell(target)),
        missed,
        _coloured(word),
        data_text(_suspect_cell(top) if top else ""),
    ]


def heap_cell(target: TargetReport) -> str:
    """The heap in use; ``~`` marks the heap profile's sampled estimate (the target serves no runtime metrics)."""
    facts = _facts(target)
    if facts.heap_inuse_bytes is None:
        return ""
    return ("~" if facts.heap_inuse_estimated else "") + human_bytes(facts.heap_inuse_bytes)


def _coloured(word: str) -> Text:
    return data_text(word, style=VERDICT_STYLE.get(word, "dim"))


def site(suspect: Suspect) -> str:
    """``main.go:76`` for a located suspect; the category for a series finding (it has no code site)."""
    return f"{suspect.file.rsplit('/', 1)[-1]}:{suspect.line}" if suspect.file else suspect.category


def _suspect_cell(suspect: Suspect) -> str:
    where = f"{suspect.category} at {site(suspect)}" if suspect.file else suspect.category
    return f"{suspect.confidence:.2f} {suspect.kind} {where}"


def summary_line(report: Report, threshold: float = SUSPECT_CONFIDENCE) -> str:
    flagged = sum(1 for t in report.targets if any(s.confidence >= threshold for s in t.suspects))
    failing = sum(1 for t in report.targets if t.status != "ok")
    departed = sum(1 for t in report.targets if _facts(t).departed_at)
    return (
        f"leaksleuth watch: {_plural(len(report.targets), 'target')}"
        f"{f' ({departed} departed)' if departed else ''}, {flagged} with a suspect ≥ {threshold}, "
        f"{failing} unreachable or failing"
    )


_MANY_TARGETS = 40


def verdict_table(report: Report, threshold: float = SUSPECT_CONFIDENCE) -> Table:
    """Every target for small fleets; for big ones only the flagged and failing targets (the rest are counted)."""
    many = len(report.targets) > _MANY_TARGETS
    table = Table(title="Verdicts", title_justify="left", caption=summary_line(report, threshold) if many else None)
    for column in ("target", "verdict", "confidence", "kind", "where", "summary"):
        table.add_column(column)
    for target in report.targets:
        strong = [s for s in target.suspects if s.confidence >= threshold]
        if many and not strong and target.status == "ok":
            continue
        word = verdict_word(target)
        name = data_text(target.target)
        if departed_at := _facts(target).departed_at:  # discovery dropped it: this is its last verdict
            name.append_text(data_text(LINE_BREAK, (f"departed {departed_at}", "dim")))
        if target.status != "ok":
            table.add_row(name, data_text(word, style="red"), "", "", "", data_text(target.error or ""))
            continue
        if not strong:
            too_early = word == "too early"
            why = f"only {_plural(target.snapshots, 'snapshot')}" if too_early else f"no suspect ≥ {SUSPECT_CONFIDENCE}"
            table.add_row(name, _coloured(word), "", "", "", why)
        for suspect in strong:
            where = data_text(suspect.function, LINE_BREAK, (site(suspect), "dim")) if suspect.file else None
            table.add_row(
                name,
                _coloured(word),
                f"{suspect.confidence:.2f}",
                data_text(suspect.kind),
                where or data_text(suspect.category),
                data_text(suspect.summary),
            )
    return table


def finding_events(
    report: Report, seen: dict[tuple[str, str, str, int], float], threshold: float
) -> Iterable[dict[str, Any]]:
    """New findings, or findings whose confidence rose by 0.1 or more since last reported: one event each."""
    for target in report.targets:
        for suspect in target.suspects:
            if suspect.confidence < threshold:
                continue
            key = (target.target, suspect.category, suspect.file, suspect.line)
            previous = seen.get(key)
            if previous is not None and suspect.confidence < previous + 0.1:
                continue
            seen[key] = suspect.confidence
            evidence = suspect.evidence
            wait = (evidence.wait_minutes if isinstance(evidence, GoroutineEvidence) else None) or (None, None)
            labels = evidence.labels if isinstance(evidence, GoroutineEvidence) else {}
            facts = _facts(target)
            yield {
                "event": "finding",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "target": target.target,
                "service": facts.service,
                "kind": suspect.kind,
                "category": suspect.category,
                "function": suspect.function,
                "file": suspect.file,
                "line": suspect.line,
                "confidence": suspect.confidence,
                "goroutine_count": evidence.count if isinstance(evidence, GoroutineEvidence) else facts.goroutines,
                "blocked_minutes": wait[1],
                "heap_inuse_bytes": facts.heap_inuse_bytes,
                "summary": suspect.summary,
                # which requests leak: label values holding the goroutines, a sample of their trace ids
                "labels": labels.get("by_label") or {},
                "trace_ids": labels.get("trace_ids") or [],
                "first_seen": iso_z(first)
                if isinstance(evidence, GoroutineEvidence) and (first := evidence.first_seen)
                else None,
            }


def round_events(report: Report, number: int, results: Iterable[ScrapeResult]) -> Iterable[dict[str, Any]]:
    """``--round-events``: per target scraped this round, what was fetched and why, and its top suspect now."""
    verdicts = {target.target: target for target in report.targets}
    for result in results:
        verdict = verdicts.get(result.target.url)
        top = verdict.ranked()[0] if verdict is not None and verdict.suspects else None
        yield {
            "event": "round",
            "round": number,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.taken_at)),
            "target": result.target.url,
            "status": result.status,
            "fetched": [fetched.kind for fetched in result.fetched],
            "plan": list(result.plan),
            "top": None
            if top is None
            else {
                "kind": top.kind,
                "category": top.category,
                "function": top.function,
                "file": top.file,
                "line": top.line,
                "confidence": top.confidence,
            },
        }


def write_events(stream: TextIO, events: Iterable[dict[str, Any]]) -> None:
    for event in events:
        stream.write(json.dumps(event, sort_keys=True) + "\n")
    stream.flush()
