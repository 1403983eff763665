"""Typed ``Suspect.evidence``: one writer of the report@1 ``evidence`` object, one reader, and they agree."""

from __future__ import annotations

import json

import pytest

from leaksleuth.analysis.attribution import attribute
from leaksleuth.analysis.goroutines.snapshots import snapshot_from_dump
from leaksleuth.analysis.goroutines.verdict import evaluate
from leaksleuth.formats.goroutine_text import parse_goroutine_dump
from leaksleuth.model.evidence import GoroutineEvidence, evidence_from_json
from leaksleuth.model.evidence_base import Explains, NoEvidence, SourceNote
from leaksleuth.model.heap_report import HeapFleetEvidence, HeapSiteEvidence
from leaksleuth.model.report import Suspect
from leaksleuth.model.series import SeriesEvidence, Signal
from tests.conftest import CAPTURES

MIB = 1 << 20


def _round_trip(suspect: Suspect) -> Suspect:
    return Suspect.from_json(json.loads(json.dumps(suspect.to_json())))


def _families() -> list[Suspect]:
    bucket = GoroutineEvidence(
        count=12,
        state="chan-send",
        states={"chan send": 12},
        wait_minutes=(3, 61),
        created_by="main.serve /app/main.go:40",
        used=["growth", "long-wait"],
        weights={"growth": 0.9, "long-wait": 0.35},
        advice="Give the send a way out.",
        bucket="main.f|chan send",
        details={"growth": {"from": 2, "to": 12, "discount": "flattened"}, "long-wait": {"wait_minutes": [3, 61]}},
        blocking="main.f.func1 /app/main.go:83",
        related_count=4,
        source=SourceNote("send-no-receiver", "why", "fix", 83, (83, 90), ((90, "receiver"),), bounded="buffered"),
    )
    site = HeapSiteEvidence(site="/app/cache.go:10", growth_bytes=3 * MIB, series=[1, 2, 3], advice="Bound it.")
    fleet = HeapFleetEvidence(site="/app/a.go:3", kind="inuse_objects", unit="count", node_value=7, fleet_median=2)
    signals = SeriesEvidence(signals=[Signal("heap-growth", 0.9, "grows", {"metric": "next_gc", "growth": 5.0})])
    return [
        Suspect("goroutine", "chan-send", "main.f.func1", "/app/main.go", 83, 0.9, "s", bucket),
        Suspect("heap", "map-growth", "main.cache", "/app/cache.go", 10, 0.8, "s", site),
        Suspect("heap", "fleet-outlier", "main.a", "/app/a.go", 3, 0.6, "s", fleet),
        Suspect("heap", "heap-growth", "", "", 0, 0.9, "s", signals),
        Suspect("heap", "heap-growth", "", "", 0, 0.9, "s"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_every_family_reads_back_what_it_wrote(index: int) -> None:
    suspect = _families()[index]
    back = _round_trip(suspect)
    assert type(back.evidence) is type(suspect.evidence)
    assert back.to_json() == suspect.to_json() and list(back.to_json()["evidence"]) == list(
        suspect.to_json()["evidence"]
    )


def test_a_count_fleet_site_keeps_its_unit_names() -> None:
    document = _families()[2].to_json()["evidence"]
    assert document["node_value"] == 7 and document["fleet_median"] == 2 and "node_bytes" not in document


def test_what_attribution_and_the_source_add_comes_after_the_family_members_in_the_order_added() -> None:
    """A heap site credited by attribution (explains, used) and then explained by the source (source, weights);
    one explained by the source alone (source, then used and weights) — the order report@1 has always had."""
    credited = HeapSiteEvidence(advice="a", used=["explains-heap-growth"], weights={"source-pattern": 0.3})
    credited.explains.append(Explains(0.9, "heap growth", "next_gc", "heap-growth", 0.95, "grows"))
    credited.source = SourceNote("grow-only-global", "w", "f", 3)
    keys = list(credited.to_json())
    assert keys[-5:] == ["advice", "explains", "used", "source", "weights"]
    alone = HeapSiteEvidence(advice="a", used=["source-pattern"], weights={"source-pattern": 0.3})
    alone.source = SourceNote("grow-only-global", "w", "f", 3)
    assert list(alone.to_json())[-4:] == ["advice", "source", "used", "weights"]
    fleet = HeapFleetEvidence(used=["source-pattern"], weights={"source-pattern": 0.3}, advice="fix")
    fleet.source = SourceNote(bounded="b")
    assert list(fleet.to_json())[-4:] == ["source", "advice", "used", "weights"]


def test_an_unknown_shape_reads_as_no_evidence_keeping_the_shared_members() -> None:
    evidence = evidence_from_json({"advice": "x", "used": ["a"], "mystery": 1})
    assert isinstance(evidence, NoEvidence) and evidence.advice == "x" and evidence.used == ["a"]
    assert isinstance(evidence_from_json(None), NoEvidence) and evidence_from_json({}).to_json() == {}


def test_a_real_goroutine_verdict_reads_back_typed_and_attribution_reads_its_growth() -> None:
    dump = parse_goroutine_dump((CAPTURES / "parked.goroutineleak.debug2.txt").read_bytes())
    suspects, _ = evaluate([snapshot_from_dump(dump)])
    assert suspects
    for suspect in suspects:
        back = _round_trip(suspect)
        assert isinstance(back.evidence, GoroutineEvidence) and back.evidence.count == suspect.evidence.count
        assert back.to_json() == suspect.to_json()
    assert attribute(suspects, [], []) == suspects
