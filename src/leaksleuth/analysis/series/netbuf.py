"""Network buffers per node (the seed's health table: socket memory > 50 MB and growing), from node_exporter's
``node_sockstat_*`` series when Prometheus has them.

Per node: the kernel's TCP socket memory (``node_sockstat_TCP_mem_bytes``; when only ``node_sockstat_TCP_mem``
pages exist, pages times ``page_size``, and the source says so), its rise over the window (latest minus first point)
and the sockets in use. A ``node-health`` finding when it is above the threshold AND grows by the project's one
growth test (``analysis.evidence.growth``, as a gauge, by ``MIN_SOCKET_GROWTH`` or more): a spike that drained
again is not growing. A supporting signal about a node: it never touches a target's suspects or confidence. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from leaksleuth.analysis.evidence import GrowthRule, growth
from leaksleuth.analysis.humanize import human_bytes, human_duration
from leaksleuth.model.runtime import NodeFacts, RuntimeFinding

SOCKET_MEMORY_THRESHOLD = 50 * 2**20  # bytes: the seed's "socket memory > 50 MB"
MIN_SOCKET_GROWTH = 4 * 2**20  # bytes over the window: below that it is not "growing"
SOCKET_GROWTH = GrowthRule(floor=MIN_SOCKET_GROWTH, gauge=True)  # kernel memory moves with traffic: a gauge
DEFAULT_PAGE_SIZE = 4096  # node_sockstat_TCP_mem counts pages; 4 KiB on x86-64 and most arm64 kernels

# leaksleuth's series name -> node_exporter's metric
NODE_METRICS = {
    "tcp_mem_bytes": "node_sockstat_TCP_mem_bytes",
    "tcp_mem_pages": "node_sockstat_TCP_mem",
    "tcp_inuse": "node_sockstat_TCP_inuse",
    "sockets_used": "node_sockstat_sockets_used",
}


@dataclass(slots=True)
class NodeSeries:
    """One node's series (keys of ``NODE_METRICS``): name -> (timestamps, values), oldest first."""

    node: str
    series: dict[str, tuple[Sequence[float], Sequence[float]]] = field(default_factory=dict)


def _finite(node: NodeSeries, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    found = node.series.get(name)
    if found is None:
        return None
    times, values = np.asarray(found[0], dtype=float), np.asarray(found[1], dtype=float)
    keep = np.isfinite(times) & np.isfinite(values) & (values >= 0)
    return (times[keep], values[keep]) if keep.any() else None


def _latest(node: NodeSeries, name: str) -> float | None:
    found = _finite(node, name)
    return float(found[1][-1]) if found is not None else None


def node_socket_facts(
    node: NodeSeries, *, threshold: float = SOCKET_MEMORY_THRESHOLD, page_size: int = DEFAULT_PAGE_SIZE
) -> NodeFacts | None:
    """The node's socket memory and, when above ``threshold`` and growing, its finding; None without the series."""
    source = NODE_METRICS["tcp_mem_bytes"]
    memory = _finite(node, "tcp_mem_bytes")
    if memory is None:
        pages = _finite(node, "tcp_mem_pages")
        if pages is None:
            return None
        memory = (pages[0], pages[1] * page_size)
        source = f"{NODE_METRICS['tcp_mem_pages']} pages x {page_size} B (assumed page size)"
    times, values = memory
    current, rise, seconds = float(values[-1]), float(values[-1] - values[0]), float(times[-1] - times[0])
    inuse, used = _latest(node, "tcp_inuse"), _latest(node, "sockets_used")
    findings: tuple[RuntimeFinding, ...] = ()
    if current > threshold and growth(times, values, SOCKET_GROWTH) is not None:
        sockets = f"; {inuse:.0f} TCP sockets in use" if inuse is not None else ""
        if used is not None:
            sockets += f", {used:.0f} sockets in all"
        evidence: dict[str, float | str] = {
            "socket_memory_bytes": current,
            "rise_bytes": rise,
            "seconds": seconds,
            "threshold_bytes": float(threshold),
            "source": source,
        }
        if inuse is not None:
            evidence["tcp_inuse"] = inuse
        if used is not None:
            evidence["sockets_used"] = used
        findings = (
            RuntimeFinding(
                "node-health",
                "socket-memory-growing",
                f"TCP socket memory {human_bytes(current)} (over {human_bytes(threshold)}), "
                f"{human_bytes(rise, signed=True)} in {human_duration(seconds)}{sockets}",
                evidence,
                (
                    "find the process whose connections hold unread data (ss -tm: large Recv-Q/Send-Q): a peer "
                    "that stopped reading, or a leak of connections",
                    "not a leak finding by itself: check the targets on this node",
                ),
            ),
        )
    return NodeFacts(node.node, current, rise, seconds, source, inuse, used, findings)


def node_facts(
    nodes: Sequence[NodeSeries], *, threshold: float = SOCKET_MEMORY_THRESHOLD, page_size: int = DEFAULT_PAGE_SIZE
) -> list[NodeFacts]:
    """Every node with socket series, those with a finding first, then by socket memory, largest first."""
    found = [f for n in nodes if (f := node_socket_facts(n, threshold=threshold, page_size=page_size)) is not None]
    return sorted(found, key=lambda f: (not f.findings, -f.socket_memory_bytes, f.node))
