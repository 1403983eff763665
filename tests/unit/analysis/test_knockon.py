"""Knock-on after a restart: peers that jump right after a victim goes down, one incident per service."""

from __future__ import annotations

import json

import jsonschema
import numpy as np

from leaksleuth.analysis.series.fleet import InstanceSeries, analyze_fleet
from leaksleuth.analysis.series.knockon import find_incidents, mark_root_causes
from leaksleuth.model.report import Report
from tests.unit.analysis.test_series import POINTS, SCHEMA, STEP, T0, MiB, _times, flat, ramp, runtime

DOWN = 120  # the victim's first sample of the new process


def _victim(name: str = "victim", down: int = DOWN) -> InstanceSeries:
    values = runtime(np.concatenate([ramp(20 * MiB, 120 * MiB, down), flat()[down:]]))
    for counter in ("num_gc", "total_alloc"):  # a new process: its counters start again
        values[counter][down:] -= values[counter][down - 1]
    values["process_start_seconds"][down:] = T0 + down * STEP
    return InstanceSeries(name, _times(), values, "api")


def _peer(
    name: str, *, jump: float = 0.0, at: int = DOWN + 2, seed: int = 3, live: np.ndarray | None = None
) -> InstanceSeries:
    heap = (live if live is not None else flat()).copy()
    heap[at : at + 12] += jump  # held ~3 minutes, then released
    return InstanceSeries(name, _times(), runtime(heap, seed=seed), "api")


def test_peers_that_jump_after_the_victim_goes_down_are_one_knock_on_incident() -> None:
    fleet = [_victim(), _peer("a", jump=12 * MiB), _peer("b", jump=14 * MiB, seed=4), _peer("calm", seed=5)]
    reports = {r.target: r for r in analyze_fleet(fleet)}
    [incident] = find_incidents(fleet, reports)
    assert incident.kind == "knock-on" and incident.victim == "victim" and incident.service == "api"
    assert incident.started_at == T0 + (DOWN - 1) * STEP and incident.restarted == ("victim",)
    assert {p.instance for p in incident.peers} == {"a", "b"} and incident.peers_checked == 3
    for peer in incident.peers:
        assert peer.rise_share >= 0.2 and 0 < peer.delay_seconds <= 4 * STEP
    assert incident.root_cause["category"] in ("heap-growth", "step-growth") and incident.root_cause["kind"] == "heap"
    mark_root_causes(list(reports.values()), [incident], fleet)
    marked = [s for s in reports["victim"].suspects if "root_cause_of" in s.evidence.marks]
    assert [s.category for s in marked] == [incident.root_cause["category"]]
    assert set(marked[0].evidence.marks["root_cause_of"]["peers_affected"]) == {"a", "b"}
    document = Report(list(reports.values()), incidents=[incident]).to_json()
    jsonschema.validate(document, SCHEMA)
    assert document["incidents"][0]["peers"][0]["delay_seconds"] > 0
    assert json.dumps(document["incidents"])  # plain JSON


def test_a_peer_that_was_already_leaking_is_not_blamed_on_the_victim() -> None:
    creeping = _peer("creeping", live=ramp(20 * MiB, 140 * MiB, POINTS))
    assert find_incidents([_victim(), creeping, _peer("calm", seed=5)]) == []  # its trend before explains it
    # faster than its trend before (the heap goal doubles): judged on its own, as its verdict says it leaks
    speeding = _peer(
        "speeding", live=np.concatenate([ramp(20 * MiB, 40 * MiB, DOWN), ramp(40 * MiB, 200 * MiB, POINTS - DOWN)])
    )
    fleet = [_victim(), speeding, _peer("calm", seed=5)]
    assert find_incidents(fleet) != []  # without verdicts, the speed-up looks like a knock-on …
    reports = {r.target: r for r in analyze_fleet(fleet)}
    assert reports["speeding"].top_confidence >= 0.8
    assert find_incidents(fleet, reports) == []  # … with them, the leaking peer is its own finding


def test_a_restart_with_calm_peers_is_no_incident() -> None:
    assert find_incidents([_victim(), _peer("a"), _peer("b", seed=4)]) == []


def test_restarts_one_after_the_other_are_one_cascade() -> None:
    fleet = [_victim("first"), _victim("second", down=DOWN + 4), _peer("a"), _peer("b", seed=4)]
    [incident] = find_incidents(fleet)
    assert incident.kind == "restart-cascade" and incident.restarted == ("first", "second")
    assert incident.victim == "first" and incident.peers == ()
