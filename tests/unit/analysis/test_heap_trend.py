"""Heap trends without a live process: restarts, noise, confidence and the report@1 document on real captures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaksleuth.analysis import trend as trend_stats
from leaksleuth.analysis.heap.trend import (
    HeapSnapshot,
    heap_trend_report,
    profile_sampling_rate,
    restarts,
    site_growth,
)
from leaksleuth.cli.main import main
from leaksleuth.errors import ConfigError
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model.report import Report
from tests.conftest import CAPTURES, ROOT

BASE = CAPTURES / "heapkinds.heap.pb.gz"
GROWN = CAPTURES / "heapkinds.heap.grown.pb.gz"
SCHEMA = json.loads((ROOT / "src" / "leaksleuth" / "report" / "report.schema.json").read_text())


def snapshot(path: Path, at: float) -> HeapSnapshot:
    return HeapSnapshot(at, parse_pprof(path.read_bytes()))


def test_lifetime_counters_tell_restarts() -> None:
    earlier, later = snapshot(BASE, 0.0), snapshot(GROWN, 10.0)
    assert restarts([earlier, later]) == [False, False]  # alloc counters only grow within a process
    assert restarts([later, earlier]) == [False, True]  # they went down: a new process
    assert profile_sampling_rate(earlier.profile) == 512  # heapkinds sets MemProfileRate = 512


def test_two_snapshots_are_no_evidence_and_the_document_is_valid() -> None:
    import jsonschema

    entry = heap_trend_report([snapshot(BASE, 0.0), snapshot(GROWN, 10.0)], target="heapkinds")
    assert entry.suspects == []  # two points cannot show a trend
    document = Report(targets=[entry]).to_json()
    jsonschema.validate(document, SCHEMA)
    assert document["targets"][0]["heap"]["inuse_total"][1] > document["targets"][0]["heap"]["inuse_total"][0]


def test_cli_reads_files_as_a_series(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heap", "trend", str(GROWN), str(BASE), "--json"]) == 0  # sorted by the profiles' own times
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "leaksleuth/report@1"
    assert document["targets"][0]["heap"]["restarts"] == 0


@pytest.mark.parametrize("sample_index", ["alloc_space", "alloc_objects", "0", "1"])
def test_cumulative_sample_types_are_refused(sample_index: str, capsys: pytest.CaptureFixture[str]) -> None:
    """alloc_* count every allocation since the start: pure GC churn rises in them and would pass for a leak."""
    assert main(["heap", "trend", str(BASE), str(GROWN), "--sample-index", sample_index]) == 2
    err = " ".join(capsys.readouterr().err.split())  # the console wraps
    assert (
        "heap trend cannot follow alloc_" in err and "hint: a leak is what the heap holds: --sample-index inuse_" in err
    )
    with pytest.raises(ConfigError, match="cannot follow alloc_space"):
        heap_trend_report([snapshot(BASE, 0.0), snapshot(GROWN, 10.0)], target="x", sample_index=1)


@pytest.mark.parametrize("sample_index", ["inuse_objects", "inuse_space", "2", "3"])
def test_in_use_sample_types_are_followed(sample_index: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heap", "trend", str(BASE), str(GROWN), "--json", "--sample-index", sample_index]) == 0
    heap = json.loads(capsys.readouterr().out)["targets"][0]["heap"]
    assert heap["sample_index"].startswith("inuse_")


def _series(shape: str, points: int = 40, noise: float = 0.0, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    times = np.arange(points, dtype=np.float64) * 0.5
    fraction = times / times[-1]
    level = {
        "leak": 20e6 * fraction,
        "fill-then-hold": 20e6 * np.minimum(1.0, fraction / 0.25),
        "warm-up": 20e6 * (1 - np.exp(-fraction * 8)),
        "flat": np.full(points, 5e6),
    }[shape]
    jitter = np.random.default_rng(seed).normal(0, noise, points) if noise else 0.0
    return times, np.maximum(0.0, level + jitter)


@pytest.mark.parametrize(
    ("shape", "leaks"), [("leak", True), ("fill-then-hold", False), ("warm-up", False), ("flat", False)]
)
@pytest.mark.parametrize("noise", [0.2e6, 0.8e6])
def test_confidence_separates_leaks_from_look_alikes(shape: str, leaks: bool, noise: float) -> None:
    times, values = _series(shape, noise=noise)
    found = site_growth(times, values, noise)
    score = found.weight if found is not None else 0.0
    assert (score >= 0.8) if leaks else (score < 0.5), (shape, score, found)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05e6, 1.5e6))
def test_caches_stay_below_half_whatever_the_noise(seed: int, noise: float) -> None:
    times, values = _series("fill-then-hold", noise=noise, seed=seed)
    found = site_growth(times, values, noise)
    assert found is None or found.weight < 0.5


def test_noise_free_rules_are_unchanged() -> None:
    """``noise`` is opt-in: the goroutine analysis' calls (no noise) keep the original plateau rule."""
    times, values = _series("fill-then-hold")
    plain = trend_stats.analyze(times, values)
    assert plain.plateaued == (plain.slope > 0 and plain.recent_slope < 0.25 * plain.slope)


def test_heap_sites_are_judged_by_the_shared_growth_test_with_a_noise_floor() -> None:
    """The heap family's rule is the shared test's: growth below three noise widths does not pass, a fill-then-hold
    is discounted as flattened (the same words as every family), and a leak reaches the test's ceiling."""
    times, values = _series("leak", noise=0.2e6)
    assert site_growth(times, values, noise=0.2e6) is not None
    assert site_growth(times, values * 0.02, noise=0.2e6) is None  # +0.4 MB: two noise widths, not three
    times, values = _series("fill-then-hold", noise=0.2e6)
    cache = site_growth(times, values, noise=0.2e6)
    assert cache is not None and "flattened out" in cache.evidence["discount"] and cache.held > 0.5


def test_at_the_ceiling_the_site_that_grew_most_ranks_first() -> None:
    from leaksleuth.model.heap_report import HeapSiteEvidence
    from leaksleuth.model.report import Suspect, TargetReport

    keys = Suspect("heap", "string-growth", "main.record", "/m.go", 31, 0.95, "k", HeapSiteEvidence(growth_bytes=3e6))
    table = Suspect("heap", "map-growth", "main.record", "/m.go", 32, 0.95, "m", HeapSiteEvidence(growth_bytes=14e6))
    assert TargetReport("t", suspects=[keys, table]).ranked() == [table, keys]
