"""Per-node comparison: a leak in proportion to each node's traffic vs a leak on one node only."""

from __future__ import annotations

import numpy as np

from leaksleuth.analysis.series.fleet import InstanceSeries, analyze_fleet
from leaksleuth.analysis.series.pernode import compare_nodes
from tests.unit.analysis.test_series import POINTS, MiB, _times, flat, ramp, runtime


def _node(name: str, *, leak_mib: float, load: float, seed: int) -> InstanceSeries:
    values = runtime(ramp(20 * MiB, (20 + leak_mib) * MiB, POINTS) if leak_mib else flat(), seed=seed)
    rng = np.random.default_rng(seed)
    values["load"] = load * (1 + rng.normal(0, 0.02, POINTS))
    return InstanceSeries(name, _times(), values, "api")


def _compare(*nodes: InstanceSeries) -> list[dict[str, object]]:
    reports = {r.target: r for r in analyze_fleet(nodes)}
    return [c.to_json() for c in compare_nodes(nodes, reports)]


def test_a_leak_in_proportion_to_traffic() -> None:
    [found] = _compare(
        _node("small", leak_mib=60, load=100, seed=1),
        _node("big", leak_mib=180, load=300, seed=2),
        _node("mid", leak_mib=120, load=200, seed=3),
    )
    assert found["pattern"] == "proportional-to-load" and found["kind"] == "heap" and found["load_source"] == "load"
    assert "in proportion to traffic on 3 nodes" in str(found["summary"])
    per_load = [n["rate_per_load"] for n in found["nodes"]]  # type: ignore[attr-defined]
    assert max(per_load) / min(per_load) < 1.3


def test_a_leak_on_one_node_only() -> None:
    [found] = _compare(
        _node("odd", leak_mib=120, load=200, seed=1),
        _node("b", leak_mib=0, load=220, seed=2),
        _node("c", leak_mib=0, load=180, seed=3),
    )
    assert found["pattern"] == "one-node-only" and "odd grows" in str(found["summary"])
    assert [n["leaking"] for n in found["nodes"]] == [True, False, False]  # type: ignore[attr-defined]


def test_leaks_not_in_proportion_to_load_are_uneven_and_a_healthy_service_has_none() -> None:
    [found] = _compare(_node("a", leak_mib=180, load=100, seed=1), _node("b", leak_mib=40, load=300, seed=2))
    assert found["pattern"] == "uneven"
    assert _compare(_node("a", leak_mib=0, load=100, seed=1), _node("b", leak_mib=0, load=300, seed=2)) == []
