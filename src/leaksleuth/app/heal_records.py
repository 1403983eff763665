"""What self-healing knows about a pod and what it decided: the evidence (a capture's top suspect), the pod's facts
a report records, and the :class:`Decision` every trigger ends in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leaksleuth.integrations.kubernetes import controller_of, parse_quantity
from leaksleuth.model.verdict import iso_z


@dataclass(slots=True)
class Decision:
    """What the healer did (or would have done, or refused to do) about one pod, and why."""

    at: float
    trigger: str  # alert | verdict | oom
    namespace: str
    pod: str
    action: str
    result: str  # done | dry-run | refused | waiting | failed
    reason: str
    workload: str | None = None
    report_id: int | None = None
    suspect: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """One journal line (and ``heal history`` entry); ``event`` names it beside ``serve --json-lines``' verdict
        and round events on the same stdout."""
        return {
            "event": "heal",
            "at": iso_z(self.at),
            "trigger": self.trigger,
            "namespace": self.namespace,
            "pod": self.pod,
            "workload": self.workload,
            "action": self.action,
            "result": self.result,
            "reason": self.reason,
            "report_id": self.report_id,
            "suspect": self.suspect,
        }


@dataclass(slots=True)
class Evidence:
    document: dict[str, Any]
    report_id: int | None
    suspect: dict[str, Any] | None  # the top suspect, whatever its confidence


def memory_limit(pod: Any) -> float | None:
    """The memory limit of the container serving pprof (the one exposing ``leaksleuth.io/port``, else the first
    container with a limit); None without one."""
    port = str((pod.metadata.annotations or {}).get("leaksleuth.io/port", "6060"))
    limited = []
    for container in pod.spec.containers if pod.spec else ():
        limits = container.resources.limits if container.resources else None
        if limits and limits.get("memory"):
            exposes = any(str(p.container_port) == port for p in container.ports or ())
            limited.append((not exposes, parse_quantity(limits["memory"])))
    return min(limited)[1] if limited else None


def pod_facts(pod: Any) -> dict[str, Any]:
    """What a capture report records about the pod it came from."""
    metadata, spec = pod.metadata, pod.spec
    owner = controller_of(metadata)
    return {
        "namespace": metadata.namespace,
        "name": metadata.name,
        "node": spec.node_name if spec else None,
        "owner": f"{owner.kind}/{owner.name}" if owner else None,
        "memory_limit_bytes": memory_limit(pod),
        "images": [c.image for c in spec.containers] if spec else [],
    }


def top_suspect(document: Mapping[str, Any]) -> dict[str, Any] | None:
    suspects = [s for t in document.get("targets", []) for s in t.get("suspects", [])]
    return max(suspects, key=lambda s: float(s["confidence"]), default=None)


def evidence_of(document: dict[str, Any], report_id: int | None) -> Evidence:
    top = top_suspect(document)
    suspect = None
    if top is not None:
        suspect = {k: top.get(k) for k in ("kind", "category", "function", "file", "line", "confidence")}
    return Evidence(document, report_id, suspect)


def confidence_of(evidence: Evidence) -> float:
    return float(evidence.suspect["confidence"]) if evidence.suspect else 0.0


def site_of(suspect: Mapping[str, Any] | None) -> str:
    if suspect is None:
        return "no suspect"
    return (
        f"{suspect['kind']} leak at {suspect['file']}:{suspect['line']} ({suspect['category']}, {suspect['function']})"
    )
