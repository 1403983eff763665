"""What a ``Suspect`` knows beside its summary, typed per family (``Suspect.evidence``).

Analysis builds these; attribution and the source explanation add to them (what a site explains, the lint finding
that explains its line); renderers, the dashboard and live events read their fields. The report@1 ``evidence``
object they stand for is written by each type's ``to_json`` (the keys and their order are the contract's: the
family's own keys first, then what attribution and the source explanation added, in the order they add it) and
read back by ``evidence_from_json`` (a stored verdict another replica wrote).

- ``GoroutineEvidence``: one goroutine bucket (``goroutines``, ``watch``);
- ``HeapSiteEvidence``: one growing allocation site (``heap trend``, the heap half of ``watch``), in ``heap_report``;
- ``HeapFleetEvidence``: one site of a node that holds more than the fleet (``heap fleet``), in ``heap_report``;
- ``SeriesEvidence``: a finding of the metric series, no line (``fleet``, ``watch``): its signals, in ``series``;
- ``NoEvidence``: nothing beyond the summary (what a suspect built by hand starts with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from leaksleuth.model.evidence_base import ADDED, MARK_KEYS, NoEvidence, SuspectEvidence

if TYPE_CHECKING:
    from leaksleuth.model.heap_report import HeapFleetEvidence, HeapSiteEvidence
    from leaksleuth.model.series import SeriesEvidence


@dataclass(slots=True, kw_only=True)
class GoroutineEvidence(SuspectEvidence):
    count: int = 0
    state: str = ""
    states: dict[str, int] = field(default_factory=dict)
    wait_minutes: tuple[int | None, int | None] | None = None  # (min, max) in minutes, when the dumps had them
    created_by: str | None = None  # "function file:line"
    parents: list[int] = field(default_factory=list)
    goroutine_ids: list[int] = field(default_factory=list)
    series: list[int] = field(default_factory=list)
    restart_seen: bool = False
    bucket: str = ""
    # per evidence kind that had something to say ("growth", "long-wait", "runtime-proven", …): its detail
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocking: str | None = None  # the blocking frame, when the line named is another (user code that started it)
    related_count: int | None = None  # goroutines of the merged net/http twin bucket
    first_seen: float | None = None  # when the bucket first held goroutines in the window (unix seconds)
    # pprof labels of the bucket's goroutines (analysis.goroutines.labels.label_evidence: by_label, label_sets,
    # trace_ids, …), empty when they carry none
    labels: dict[str, Any] = field(default_factory=dict)

    OWN: ClassVar[tuple[str, ...]] = ("used", "weights", "advice")

    @property
    def size(self) -> float:
        return float(self.count)

    @property
    def gained(self) -> float:
        """Goroutines the bucket gained in the window (its growth evidence), 0 without it."""
        grown = self.details.get("growth") or {}
        return float(grown.get("to", 0)) - float(grown.get("from", 0))

    def _own_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "count": self.count,
            "state": self.state,
            "states": dict(self.states),
            "wait_minutes": list(self.wait_minutes) if self.wait_minutes is not None else None,
            "created_by": self.created_by,
            "parents": list(self.parents),
            "goroutine_ids": list(self.goroutine_ids),
            "series": list(self.series),
            "used": list(self.used),
            "weights": dict(self.weights),
            "advice": self.advice,
            "restart_seen": self.restart_seen,
            "bucket": self.bucket,
            "first_seen": self.first_seen,
            **self.labels,
        }
        document.update(self.details)
        if self.blocking is not None:
            document["blocking"] = self.blocking
        if self.related_count is not None:
            document["related_count"] = self.related_count
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> GoroutineEvidence:
        wait = document.get("wait_minutes")
        evidence = cls(
            count=int(document.get("count") or 0),
            state=str(document.get("state") or ""),
            states={str(k): int(v) for k, v in (document.get("states") or {}).items()},
            wait_minutes=(wait[0], wait[1]) if isinstance(wait, list | tuple) and len(wait) == 2 else None,
            created_by=None if document.get("created_by") is None else str(document["created_by"]),
            parents=[int(p) for p in document.get("parents") or ()],
            goroutine_ids=[int(g) for g in document.get("goroutine_ids") or ()],
            series=[int(c) for c in document.get("series") or ()],
            restart_seen=bool(document.get("restart_seen")),
            bucket=str(document.get("bucket") or ""),
            details={k: dict(v) for k, v in document.items() if k not in _GOROUTINE_KEYS and isinstance(v, Mapping)},
            blocking=None if document.get("blocking") is None else str(document["blocking"]),
            related_count=None if document.get("related_count") is None else int(document["related_count"]),
            first_seen=None if document.get("first_seen") is None else float(document["first_seen"]),
            labels={k: document[k] for k in LABEL_KEYS if k in document},
        )
        evidence._added_from_json(document)
        return evidence


LABEL_KEYS = ("labelled", "by_label", "label_sets", "trace_ids", "distinct_trace_ids")  # label_evidence's keys
_GOROUTINE_KEYS = frozenset(
    {"count", "state", "states", "wait_minutes", "created_by", "parents", "goroutine_ids", "series", "restart_seen"}
    | {"bucket", "blocking", "related_count", "first_seen", *LABEL_KEYS, *MARK_KEYS, *ADDED}
)


def evidence_from_json(document: Mapping[str, Any] | None, *, category: str = "") -> SuspectEvidence:
    """The inverse of ``to_json``, the family told by its members (report@1 names none)."""
    if not document:
        return NoEvidence()
    from leaksleuth.model.heap_report import HeapFleetEvidence, HeapSiteEvidence  # here: goroutines never reads them
    from leaksleuth.model.series import SeriesEvidence

    reader: type[GoroutineEvidence | HeapSiteEvidence | HeapFleetEvidence | SeriesEvidence]
    if "bucket" in document:
        reader = GoroutineEvidence
    elif "signals" in document:
        reader = SeriesEvidence
    elif category == "fleet-outlier" or "share_of_excess" in document:
        reader = HeapFleetEvidence
    elif "site" in document:
        reader = HeapSiteEvidence
    else:
        evidence = NoEvidence()
        evidence._added_from_json(document)
        return evidence
    return reader.from_json(document)
