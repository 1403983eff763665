"""Network buffers per node: socket memory above the threshold AND growing is a node finding, never a leak."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leaksleuth.analysis.series.fleet import InstanceSeries, analyze_fleet
from leaksleuth.analysis.series.netbuf import (
    MIN_SOCKET_GROWTH,
    SOCKET_MEMORY_THRESHOLD,
    NodeSeries,
    node_facts,
    node_socket_facts,
)
from tests.unit.analysis.test_series import MiB, _times, flat, runtime

TIMES = [float(t) for t in range(0, 60, 2)]


def _node(start_mib: float, end_mib: float, *, name: str = "node-a:9100", pages: bool = False) -> NodeSeries:
    values = list(np.linspace(start_mib * MiB, end_mib * MiB, len(TIMES)))
    series = {"tcp_inuse": (TIMES, [410.0] * len(TIMES)), "sockets_used": (TIMES, [420.0] * len(TIMES))}
    if pages:
        series["tcp_mem_pages"] = (TIMES, [v / 4096 for v in values])
    else:
        series["tcp_mem_bytes"] = (TIMES, values)
    return NodeSeries(name, series)


def test_above_the_threshold_and_growing_is_a_finding_with_its_numbers() -> None:
    facts = node_socket_facts(_node(10, 100))
    assert facts is not None
    [finding] = facts.findings
    assert finding.klass == "node-health" and finding.category == "socket-memory-growing"
    assert finding.evidence["socket_memory_bytes"] == pytest.approx(100 * MiB)
    assert finding.evidence["rise_bytes"] == pytest.approx(90 * MiB)
    assert finding.evidence["seconds"] == TIMES[-1] and finding.evidence["tcp_inuse"] == 410
    assert finding.evidence["source"] == "node_sockstat_TCP_mem_bytes"
    assert "100MiB (over 50MiB), +90MiB in 58s" in finding.summary and "410 TCP sockets in use" in finding.summary


def test_above_the_threshold_but_flat_is_quiet() -> None:
    facts = node_socket_facts(_node(80, 80 + (MIN_SOCKET_GROWTH / MiB) * 0.9))
    assert facts is not None and facts.findings == ()
    assert facts.socket_memory_bytes > SOCKET_MEMORY_THRESHOLD  # the numbers are still reported


def test_a_spike_that_drained_again_is_not_growing() -> None:
    """Judged by its end points (the rule before the shared growth test), 80 -> 140 -> 86 MiB was "growing"."""
    values = [*np.linspace(80 * MiB, 140 * MiB, 15), *np.linspace(140 * MiB, 86 * MiB, len(TIMES) - 15)]
    node = NodeSeries("node-a:9100", {"tcp_mem_bytes": (TIMES, values)})
    facts = node_socket_facts(node)
    assert facts is not None and facts.rise_bytes == pytest.approx(6 * MiB) and facts.findings == ()


def test_growing_but_below_the_threshold_is_quiet() -> None:
    facts = node_socket_facts(_node(1, 45))
    assert facts is not None and facts.findings == () and facts.rise_bytes == pytest.approx(44 * MiB)


def test_the_threshold_is_a_parameter() -> None:
    facts = node_socket_facts(_node(1, 45), threshold=32 * MiB)
    assert facts is not None and len(facts.findings) == 1


def test_no_sockstat_series_no_facts() -> None:
    assert node_socket_facts(NodeSeries("node-b:9100", {"tcp_inuse": (TIMES, [1.0] * len(TIMES))})) is None
    assert node_socket_facts(NodeSeries("node-c:9100", {"tcp_mem_bytes": ([1.0], [float("nan")])})) is None
    assert node_facts([]) == []


def test_pages_only_fall_back_to_pages_times_page_size_and_say_so() -> None:
    facts = node_socket_facts(_node(10, 100, pages=True))
    assert facts is not None and len(facts.findings) == 1
    assert facts.socket_memory_bytes == pytest.approx(100 * MiB)
    assert "pages" in facts.source and "assumed page size" in facts.source
    bigger = node_socket_facts(_node(10, 100, pages=True), page_size=16384)
    assert bigger is not None and bigger.socket_memory_bytes == pytest.approx(400 * MiB)


def test_nodes_with_a_finding_come_first() -> None:
    ranked = node_facts([_node(60, 61, name="flat-big"), _node(10, 55, name="growing"), _node(1, 2, name="small")])
    assert [f.node for f in ranked] == ["growing", "flat-big", "small"]


def test_never_a_leak() -> None:
    """A node finding is not a target's: it has no confidence, and the fleet's verdicts are computed without it."""
    facts = node_socket_facts(_node(10, 500))
    assert facts is not None and facts.findings
    document = json.dumps(facts.to_json())
    assert "confidence" not in document and "suspect" not in document
    healthy = InstanceSeries("node-a:9100", _times(), runtime(flat(), seed=1), "api")  # same instance name
    [report] = analyze_fleet([healthy])
    assert all(s.confidence < 0.5 for s in report.suspects)


def test_a_hostile_node_name_stays_text_in_the_table() -> None:
    import io

    from rich.console import Console

    from leaksleuth.report.runtime import node_table

    name = "[bold]evil[/oops]\x1b[31m:9100"
    facts = node_socket_facts(_node(10, 100, name=name))
    assert facts is not None
    table = node_table([facts])
    assert table is not None and node_table([node_socket_facts(_node(1, 2))]) is None  # type: ignore[list-item]
    sink = io.StringIO()
    Console(file=sink, width=200, color_system=None).print(table)
    out = sink.getvalue()
    assert "Node findings (not leaks)" in out and "[bold]evil[/oops]" in out and "\x1b" not in out
