"""Runtime findings beside a target's suspects: how the Go runtime is configured and how its GC is doing.

These never count toward a leak's confidence (a mis-sized GOMAXPROCS or slow GC is not a leak; the seed lists them
as what the runtime shows first). report@1 members, additive: ``findings`` (each with its ``class``:
``runtime-config`` or ``gc-health``) and ``gc`` (the GC's numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FindingClass = Literal["runtime-config", "gc-health", "node-health"]  # node-health: a node's, not a target's


@dataclass(frozen=True, slots=True)
class RuntimeFinding:
    klass: FindingClass
    category: str  # a slug: "gomaxprocs-over-quota", "gc-off", "gc-goal-receding", "gc-long-pauses", …
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fix: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.klass,
            "category": self.category,
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "fix": list(self.fix),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RuntimeFinding:
        klass = document.get("class")
        return cls(
            klass if klass in ("runtime-config", "gc-health", "node-health") else "runtime-config",
            str(document.get("category", "")),
            str(document.get("summary", "")),
            dict(document.get("evidence") or {}),
            tuple(str(x) for x in document.get("fix") or ()),
        )


@dataclass(frozen=True, slots=True)
class GcFacts:
    """What the GC did, from whatever the source had (None: not reported)."""

    pause_p50_seconds: float | None = None
    pause_p75_seconds: float | None = None
    pause_max_seconds: float | None = None
    cpu_fraction: float | None = None  # MemStats.GCCPUFraction: GC CPU share since the process started
    stw_fraction: float | None = None  # stop-the-world pause time per wall second over the window
    cycles: int | None = None  # GCs in the window (or since start, for one snapshot)
    seconds: float | None = None  # the window those cycles ran in
    next_gc_bytes: tuple[float, float] | None = None  # first, last of the window
    heap_alloc_bytes: tuple[float, float] | None = None
    gogc_percent: int | None = None  # -1: off
    gomemlimit_bytes: float | None = None  # None or unset: no limit

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value is not None:
                document[name] = list(value) if isinstance(value, tuple) else value
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> GcFacts:
        known: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in document.items() if k in cls.__slots__
        }
        return cls(**known)


@dataclass(frozen=True, slots=True)
class RuntimeFacts:
    findings: tuple[RuntimeFinding, ...] = ()
    gc: GcFacts | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"findings": [f.to_json() for f in self.findings]}
        if self.gc is not None:
            document["gc"] = self.gc.to_json()
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RuntimeFacts | None:
        """Read back from a stored report@1 target (None when it had neither member)."""
        if "findings" not in document and "gc" not in document:
            return None
        findings = tuple(RuntimeFinding.from_json(f) for f in document.get("findings") or () if isinstance(f, Mapping))
        gc = document.get("gc")
        return cls(findings, GcFacts.from_json(gc) if isinstance(gc, Mapping) else None)


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """One node's kernel socket memory over the window (node_exporter's ``node_sockstat_*``), beside the targets.

    A node finding, never a leak: no target's confidence reads it. ``source`` names the series the bytes came from
    (``node_sockstat_TCP_mem_bytes``, or ``node_sockstat_TCP_mem`` pages times an assumed page size).
    """

    node: str
    socket_memory_bytes: float  # the latest
    rise_bytes: float  # latest minus the first point of the window
    seconds: float  # the window those points span
    source: str
    tcp_inuse: float | None = None  # node_sockstat_TCP_inuse, latest
    sockets_used: float | None = None  # node_sockstat_sockets_used, latest
    findings: tuple[RuntimeFinding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "node": self.node,
            "socket_memory_bytes": self.socket_memory_bytes,
            "rise_bytes": self.rise_bytes,
            "seconds": self.seconds,
            "source": self.source,
            "findings": [f.to_json() for f in self.findings],
        }
        for name in ("tcp_inuse", "sockets_used"):
            if getattr(self, name) is not None:
                document[name] = getattr(self, name)
        return document
