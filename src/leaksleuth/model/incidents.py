"""Service-level incidents: what happened to a service as a whole, beside the per-instance verdicts.

A ``knock-on`` is the seed's cross-node side effect: one instance restarts (often OOM-killed by its own leak) and
its peers' memory jumps within minutes (retry storms, rebuilt connection pools). A ``restart-cascade`` is several
instances of one service restarting one after the other. Either is one incident of the service — the victim, the
peers affected (their rise and delay), the instances that restarted — with the victim's leak as its root cause,
not N unrelated findings. report@1 member ``incidents`` (top level, additive).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

IncidentKind = Literal["knock-on", "restart-cascade"]


@dataclass(frozen=True, slots=True)
class PeerRise:
    instance: str
    metric: str  # the memory series compared: container working set, RSS or heap in use
    before_bytes: float  # its level just before the victim went down
    peak_bytes: float
    rise_bytes: float  # above what its own trend before predicted
    rise_share: float  # rise_bytes / before_bytes
    delay_seconds: float  # from the victim's last sample alive to the rise passing the threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "metric": self.metric,
            "before_bytes": self.before_bytes,
            "peak_bytes": self.peak_bytes,
            "rise_bytes": self.rise_bytes,
            "rise_share": round(self.rise_share, 3),
            "delay_seconds": round(self.delay_seconds, 1),
        }


@dataclass(frozen=True, slots=True)
class Incident:
    kind: IncidentKind
    service: str
    victim: str
    started_at: float  # the victim's last sample alive (unix seconds)
    restarted: tuple[str, ...]  # every instance that restarted in the incident, the victim first
    peers: tuple[PeerRise, ...] = ()  # the peers whose memory rose
    peers_checked: int = 0
    peers_leaking: tuple[str, ...] = ()  # peers not checked: they leak on their own (judged in their own verdict)
    reason: str = ""  # why the victim went down, when known: "OOMKilled", "memory limit reached", …
    root_cause: Mapping[str, Any] = field(default_factory=dict)  # the victim's leak: category, kind, confidence
    summary: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "service": self.service,
            "victim": self.victim,
            "started_at": dt.datetime.fromtimestamp(self.started_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "restarted": list(self.restarted),
            "peers": [peer.to_json() for peer in self.peers],
            "peers_checked": self.peers_checked,
            "peers_leaking": list(self.peers_leaking),
            "reason": self.reason,
            "root_cause": dict(self.root_cause),
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class NodeRate:
    instance: str
    rate: float  # growth per second of the leaking series (bytes or goroutines)
    load: float | None  # mean load over the same stretch (--load, or the allocation rate)
    leaking: bool

    def to_json(self) -> dict[str, Any]:
        per_load = self.rate / self.load if self.load else None
        return {"instance": self.instance, "rate": self.rate, "load": self.load, "rate_per_load": per_load,
                "leaking": self.leaking}  # fmt: skip


@dataclass(frozen=True, slots=True)
class NodeComparison:
    """Step growth per node (seed §1: same image, leak rates that differ by traffic): how a service's instances leak
    next to their load. ``pattern``: ``proportional-to-load`` (a per-request leak: rate / load about equal),
    ``one-node-only`` (one instance leaks, its peers at a comparable load do not), ``uneven`` (several leak, not in
    proportion to their load)."""

    service: str
    kind: str  # "heap" or "goroutine"
    unit: str  # "bytes" or "goroutines"
    pattern: str
    load_source: str  # "load" (--load) or "allocation rate"
    nodes: tuple[NodeRate, ...]
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "kind": self.kind,
            "unit": self.unit,
            "pattern": self.pattern,
            "load_source": self.load_source,
            "nodes": [node.to_json() for node in self.nodes],
            "summary": self.summary,
        }
