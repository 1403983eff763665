"""What a ``TargetReport`` carries beside its suspects, per command, as typed view-models.

Analysis and the app build these; renderers (terminal, HTML, web, metrics, events) read their fields. The report@1
members they stand for are written by the ``to_json`` beside each type, put together in the contract's order in one
place (``TargetReport.to_json``), and read back by ``from_json`` where a stored document is read (a verdict another
replica stored).

- ``InstanceFacts``: one watched instance (``watch``, ``serve``): service, latest levels, rounds, departure;
- ``GoroutineFacts``: one ``goroutines`` run: what the dumps showed and the bucket rows;
- ``SeriesFacts``: one instance of ``fleet`` (metric series): its group, verdict, restarts and window (``series``);
- ``HeapTrendFacts``: ``heap trend`` (and the heap half of a watch verdict): what the profiles were (``heap_report``);
- ``HeapFleetFacts``: one node of ``heap fleet``: its total against the fleet's median (``heap_report``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _plain(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Mapping):
        return dict(value)  # one level: rows and labels are already plain
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def fields_json(facts: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A view-model's fields as report@1 members, in declaration order (the contract's order): tuples become lists,
    mappings dicts, nested view-models their own ``to_json``."""
    return {f.name: _plain(getattr(facts, f.name)) for f in fields(facts) if f.name not in skip}


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    service: str = ""
    goroutines: int = 0
    heap_inuse_bytes: float | None = None
    heap_inuse_estimated: bool = False  # the heap profile's sampled total: the target serves no runtime metrics
    rss_bytes: float | None = None
    restarts: int = 0
    rounds: int = 0
    failed_rounds: int = 0
    notes: tuple[str, ...] = ()
    missed_rounds: int = 0  # rounds skipped because its previous scrape was still running
    departed_at: str | None = None  # discovery dropped it: this is its last verdict
    fetched: Mapping[str, int] = field(default_factory=dict)  # adaptive plan: fetches by kind over the watch
    plan: tuple[str, ...] = ()  # adaptive plan: why the last round fetched what it did

    def to_json(self) -> dict[str, Any]:
        """The always-present members; ``marks_json`` has those that appear only when set."""
        skip = ("heap_inuse_estimated", "missed_rounds", "departed_at", "fetched", "plan")
        return fields_json(self, skip=skip)

    def marks_json(self) -> dict[str, Any]:
        marks: dict[str, Any] = {}
        if self.missed_rounds:
            marks["missed_rounds"] = self.missed_rounds
        if self.heap_inuse_estimated:
            marks["heap_inuse_estimated"] = True
        if self.departed_at:
            marks["departed_at"] = self.departed_at
        if self.plan:
            marks["scrape_plan"] = {"fetched": dict(self.fetched), "last_round": list(self.plan)}
        return marks

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> InstanceFacts:
        """The members of a report@1 target (a stored verdict keeps only some: the rest take their defaults)."""
        return cls(
            service=str(document.get("service") or ""),
            goroutines=int(document.get("goroutines") or 0),
            heap_inuse_bytes=_number(document.get("heap_inuse_bytes")),
            heap_inuse_estimated=bool(document.get("heap_inuse_estimated")),
            rss_bytes=_number(document.get("rss_bytes")),
            restarts=int(document.get("restarts") or 0),
            rounds=int(document.get("rounds") or 0),
            failed_rounds=int(document.get("failed_rounds") or 0),
            notes=tuple(str(note) for note in document.get("notes") or ()),
            missed_rounds=int(document.get("missed_rounds") or 0),
            departed_at=document.get("departed_at") or None,
            fetched={str(k): int(v) for k, v in ((document.get("scrape_plan") or {}).get("fetched") or {}).items()},
            plan=tuple(str(why) for why in (document.get("scrape_plan") or {}).get("last_round") or ()),
        )


@dataclass(frozen=True, slots=True)
class GoroutineFacts:
    goroutines: int
    evidence_available: tuple[str, ...]  # what the dumps could show: "wait times and creators (debug=2)", …
    notes: tuple[str, ...]
    buckets: tuple[Mapping[str, Any], ...]  # report.goroutines.bucket_rows: the table's rows are the JSON rows

    def to_json(self) -> dict[str, Any]:
        return fields_json(self)
