"""The heap family's report members: what ``heap trend`` and ``heap fleet`` carry beside their suspects
(``HeapTrendFacts``, ``HeapFleetFacts``: view-models, see ``model.views``) and each suspect's evidence
(``HeapSiteEvidence``, ``HeapFleetEvidence``: see ``model.evidence``). Their own module: the goroutine commands
never import them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from leaksleuth.model.evidence_base import ADDED, SuspectEvidence, read_fields
from leaksleuth.model.views import fields_json


@dataclass(frozen=True, slots=True)
class HeapTrendFacts:
    sample_index: str
    snapshots_analysed: int
    restarts: int  # restarts seen in the window: the newest run is what was analysed
    memprofilerate: int
    span_seconds: float
    inuse_total: tuple[int, ...]  # per analysed snapshot

    def to_json(self) -> dict[str, Any]:
        return fields_json(self)


@dataclass(frozen=True, slots=True)
class HeapFleetFacts:
    sample_index: str
    unit: str
    value: float
    fleet_median: int
    excess: int
    robust_z: float
    outlier: bool
    nodes: int

    def to_json(self) -> dict[str, Any]:
        document = fields_json(self)
        if self.unit == "bytes":  # the names heap readers of this document already use
            document.update(inuse_bytes=self.value, fleet_median_bytes=self.fleet_median, excess_bytes=self.excess)
        return document


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
