"""Suspects and the ``leaksleuth/report@1`` document (ARCHITECTURE.md: a stable contract other tools parse)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from leaksleuth.model.evidence import evidence_from_json
from leaksleuth.model.evidence_base import NoEvidence, SuspectEvidence
from leaksleuth.model.verdict import iso_z

if TYPE_CHECKING:  # the facts each command fills in: ``goroutines FILE`` does not import the fleet's or the GC's
    from leaksleuth.model.heap_report import HeapFleetFacts, HeapTrendFacts
    from leaksleuth.model.incidents import Incident, NodeComparison
    from leaksleuth.model.runtime import RuntimeFacts
    from leaksleuth.model.series import SeriesFacts
    from leaksleuth.model.views import GoroutineFacts, InstanceFacts

SCHEMA = "leaksleuth/report@1"
SuspectKind = Literal["goroutine", "heap"]
TargetStatus = Literal["ok", "unreachable", "error"]


@dataclass(slots=True)
class Suspect:
    """One thing that probably leaks, named by the user-code line to fix.

    For goroutines ``file``/``line`` is the blocking frame in user code; for heap, the allocation line in user
    code. ``confidence`` is 0–1; a healthy target has no suspect at or above ``SUSPECT_CONFIDENCE``.
    """

    kind: SuspectKind
    category: str  # a slug: "chan-send", "http-body-not-closed", "map-growth", …
    function: str
    file: str
    line: int
    confidence: float
    summary: str  # one line a person understands
    evidence: SuspectEvidence = field(default_factory=NoEvidence)  # typed per family (model/evidence.py)
    # the other findings of the same root cause (a series finding this site explains, a heap site its goroutines
    # hold): reported inside this suspect so nothing is lost, not ranked beside it
    related: list[Suspect] = field(default_factory=list)

    @property
    def located(self) -> bool:
        """Names a line to fix (series findings name none)."""
        return bool(self.file) and self.line > 0

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Suspect:
        """The inverse of ``to_json`` (a stored verdict read back)."""
        return cls(
            document["kind"],
            str(document["category"]),
            str(document["function"]),
            str(document["file"]),
            int(document["line"]),
            float(document["confidence"]),
            str(document["summary"]),
            evidence_from_json(document.get("evidence"), category=str(document["category"])),
            [cls.from_json(related) for related in document.get("related") or []],
        )

    def to_json(self) -> dict[str, Any]:
        document = {
            "kind": self.kind,
            "category": self.category,
            "function": self.function,
            "file": self.file,
            "line": self.line,
            "confidence": round(float(self.confidence), 3),
            "summary": self.summary,
            "evidence": self.evidence.to_json(),
        }
        if self.related:  # additive: report@1 readers that do not know it ignore it
            document["related"] = [related.to_json() for related in self.related]
        return document


@dataclass(slots=True)
class TargetReport:
    target: str
    status: TargetStatus = "ok"
    snapshots: int = 0
    error: str | None = None
    suspects: list[Suspect] = field(default_factory=list)
    # what the command knows beside its suspects, typed (model/views.py); each None when it did not produce it
    instance: InstanceFacts | None = None  # watch, serve
    goroutine_facts: GoroutineFacts | None = None  # goroutines
    series: SeriesFacts | None = None  # fleet
    heap: HeapTrendFacts | None = None  # heap trend, and the heap half of a watch verdict
    fleet: HeapFleetFacts | None = None  # heap fleet
    runtime: RuntimeFacts | None = None  # runtime-config and gc-health findings, the GC's numbers: never a suspect

    @property
    def top_confidence(self) -> float:
        """The highest suspect confidence; 0 without suspects."""
        return max((s.confidence for s in self.suspects), default=0.0)

    def ranked(self) -> list[Suspect]:
        """The suspects, most confident first; at equal confidence one that names a line before one that does not
        (the user asked which line), then by kind, the bigger leak first (two sites of one leak both at the growth
        test's ceiling: the map before the keys stored in it), then file, line so output is stable."""
        return sorted(
            self.suspects, key=lambda s: (-s.confidence, not s.located, s.kind, -s.evidence.size, s.file, s.line)
        )

    def sort(self) -> None:
        self.suspects[:] = self.ranked()

    @property
    def extra(self) -> Mapping[str, Any]:
        """The command-specific report@1 members as JSON, read-only (renderers read the typed fields instead)."""
        return MappingProxyType(self.members_json())

    def members_json(self) -> dict[str, Any]:
        """The one place the view-models become report@1 members of a target, in the contract's order."""
        document: dict[str, Any] = {}
        for facts in (self.goroutine_facts, self.series, self.instance):
            if facts is not None:
                document.update(facts.to_json())
        if self.heap is not None:
            document["heap"] = self.heap.to_json()
        if self.fleet is not None:
            document["fleet"] = self.fleet.to_json()
        if self.instance is not None:
            document.update(self.instance.marks_json())
        if self.runtime is not None:  # additive: "findings" and "gc"
            document.update(self.runtime.to_json())
        return document

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "target": self.target,
            "status": self.status,
            "snapshots": self.snapshots,
            "error": self.error,
            "suspects": [s.to_json() for s in self.ranked()],
        }
        document.update(self.members_json())
        return document


@dataclass(slots=True)
class Report:
    targets: list[TargetReport] = field(default_factory=list)
    generated_at: dt.datetime | None = None
    incidents: list[Incident] = field(default_factory=list)  # service-level: knock-on, restart cascades
    node_comparisons: list[NodeComparison] = field(default_factory=list)  # how a service's nodes leak vs load

    def to_json(self) -> dict[str, Any]:
        when = self.generated_at or dt.datetime.now(dt.UTC)
        document: dict[str, Any] = {
            "schema": SCHEMA,
            "generated_at": iso_z(when),
            "targets": [t.to_json() for t in self.targets],
        }
        if self.incidents:  # additive: readers that do not know it ignore it
            document["incidents"] = [incident.to_json() for incident in self.incidents]
        if self.node_comparisons:
            document["node_comparisons"] = [comparison.to_json() for comparison in self.node_comparisons]
        return document

    def max_confidence(self) -> float:
        return max((t.top_confidence for t in self.targets), default=0.0)
