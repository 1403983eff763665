"""What a ``Suspect`` knows beside its summary, typed per family (``Suspect.evidence``).

Analysis builds these; attribution and the source explanation add to them (what a site explains, the lint finding
that explains its line); renderers, the dashboard and live events read their fields. The report@1 ``evidence``
object they stand for is written by each type's ``to_json`` (the keys and their order are the contract's: the
family's own keys first, then what attribution and the source explanation added, in the order they add it) and
read back by ``evidence_from_json`` (a stored verdict another replica wrote).

- ``GoroutineEvidence``: one goroutine bucket (``goroutines``, ``watch``);
- ``HeapSiteEvidence``: one growing allocation site (``heap trend``, the heap half of ``watch``);
- ``HeapFleetEvidence``: one site of a node that holds more than the fleet (``heap fleet``);
- ``SeriesEvidence``: a finding of the metric series, no line (``fleet``, ``watch``): its signals;
- ``NoEvidence``: nothing beyond the summary (what a suspect built by hand starts with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from leaksleuth.model.evidence_base import ADDED, MARK_KEYS, NoEvidence, SuspectEvidence, read_fields
from leaksleuth.model.views import fields_json


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


@dataclass(slots=True, kw_only=True)
class HeapSiteEvidence(SuspectEvidence):
    site: str = ""  # "file:line"
    user_code: bool = True
    kind: str = "unknown"  # the allocation kind: "map", "growslice", …
    kind_evidence: str = ""  # why that kind
    size_class_bytes: int = 0
    slope_bytes_per_second: float = 0.0
    growth_bytes: float = 0.0
    first_bytes: float = 0.0
    last_bytes: float = 0.0
    tau: float = 0.0
    p_value: float = 1.0
    rising_steps: float = 0.0
    plateaued: bool = False
    held_fraction: float = 0.0
    noise_bytes: float = 0.0
    snapshots: int = 0
    series: list[int] = field(default_factory=list)  # bytes held at the site, per snapshot
    leak_path: list[str] = field(default_factory=list)  # "function file:line", allocation site first

    OWN: ClassVar[tuple[str, ...]] = ("advice",)

    @property
    def size(self) -> float:
        return float(self.growth_bytes)

    def _own_json(self) -> dict[str, Any]:
        return {**fields_json(self, skip=ADDED), "advice": self.advice}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> HeapSiteEvidence:
        evidence = cls(**read_fields(cls, document))
        evidence._added_from_json(document)
        return evidence


@dataclass(slots=True, kw_only=True)
class HeapFleetEvidence(SuspectEvidence):
    site: str = ""  # "file:line"
    kind: str = ""  # the sample type compared
    unit: str = "bytes"
    node_value: float = 0.0  # the node's amount at the site (``node_bytes`` in bytes)
    fleet_median: float = 0.0  # the fleet's median at the site (``fleet_median_bytes`` in bytes)
    share_of_excess: float = 0.0
    robust_z: float = 0.0

    def _own_json(self) -> dict[str, Any]:
        in_bytes = self.unit == "bytes"
        return {
            "site": self.site,
            "kind": self.kind,
            "unit": self.unit,
            "node_bytes" if in_bytes else "node_value": self.node_value,
            "fleet_median_bytes" if in_bytes else "fleet_median": self.fleet_median,
            "share_of_excess": self.share_of_excess,
            "robust_z": self.robust_z,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> HeapFleetEvidence:
        unit = str(document.get("unit") or "bytes")
        suffix = "_bytes" if unit == "bytes" else ""
        evidence = cls(
            site=str(document.get("site") or ""),
            kind=str(document.get("kind") or ""),
            unit=unit,
            node_value=document.get("node" + (suffix or "_value")) or 0,
            fleet_median=document.get("fleet_median" + suffix) or 0,
            share_of_excess=float(document.get("share_of_excess") or 0),
            robust_z=float(document.get("robust_z") or 0),
        )
        evidence._added_from_json(document)
        return evidence


@dataclass(slots=True)
class Signal:
    """One series detector's finding inside a series suspect: what it saw, and its detector-specific detail
    (``metric``, ``unit``, ``growth``, ``discount``, ``steps``, … as its JSON members)."""

    category: str
    weight: float
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return str(self.detail.get("metric") or "")

    @property
    def growth(self) -> float | None:
        """How much the metric grew, when the detector measured it."""
        grown = self.detail.get("growth")
        return None if grown is None else float(grown)

    @property
    def discount(self) -> str | None:
        """Why the detector's weight was lowered (it flattened, it follows the load, …), if it was."""
        why = self.detail.get("discount")
        return None if why is None else str(why)

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "weight": self.weight, "summary": self.summary, **self.detail}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Signal:
        detail = {k: v for k, v in document.items() if k not in ("category", "weight", "summary")}
        return cls(
            str(document.get("category") or ""),
            float(document.get("weight") or 0),
            str(document.get("summary") or ""),
            detail,
        )


@dataclass(slots=True, kw_only=True)
class SeriesEvidence(SuspectEvidence):
    signals: list[Signal] = field(default_factory=list)

    OWN: ClassVar[tuple[str, ...]] = ("used", "advice")

    def _own_json(self) -> dict[str, Any]:
        return {"signals": [s.to_json() for s in self.signals], "used": list(self.used), "advice": self.advice}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> SeriesEvidence:
        evidence = cls(signals=[Signal.from_json(s) for s in document.get("signals") or ()])
        evidence._added_from_json(document)
        return evidence


def evidence_from_json(document: Mapping[str, Any] | None, *, category: str = "") -> SuspectEvidence:
    """The inverse of ``to_json``, the family told by its members (report@1 names none)."""
    if not document:
        return NoEvidence()
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
