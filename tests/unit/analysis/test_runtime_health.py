"""Runtime-config and GC-health findings: from the captured corpus (a real Go 1.27 process's /metrics, /debug/vars
and heap debug=1 trailer) and from series; never a suspect, never a leak's confidence."""

from __future__ import annotations

import json

import jsonschema
import numpy as np

from leaksleuth.analysis.runtime_health import CpuConfig, gc_findings, gc_from_memstats, gomaxprocs_finding
from leaksleuth.analysis.series.fleet import InstanceSeries, analyze_fleet
from leaksleuth.formats.memstats import parse_expvar, parse_memstats_trailer, parse_prometheus_text
from leaksleuth.model.report import Report
from leaksleuth.model.runtime import GcFacts, RuntimeFacts
from tests.conftest import CAPTURES, ROOT
from tests.unit.analysis.test_series import MiB, _times, flat, ramp, runtime

SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())


def _trailer(name: str) -> list[str]:
    return [line for line in (CAPTURES / name).read_text().splitlines() if line.startswith("# ")]


def test_pause_percentiles_from_memstats_match_the_metrics_summary_of_the_same_process() -> None:
    # heapkinds' /debug/vars and /metrics were taken after the same 8 GCs: PauseNs read the way debug.ReadGCStats
    # reads it gives client_golang's go_gc_duration_seconds quantiles exactly
    vars_ = parse_expvar((CAPTURES / "heapkinds.vars.json").read_text())
    metrics = parse_prometheus_text((CAPTURES / "heapkinds.metrics.txt").read_text())
    assert vars_.num_gc == metrics.num_gc == 8
    assert len(vars_.gc_pauses_ns) == 8
    for quantile in ("p50", "p75", "max"):
        name = f"gc_pause_{quantile}_seconds"
        assert getattr(vars_, name) == getattr(metrics, name) is not None, name
    assert metrics.pause_total_ns == sum(vars_.gc_pauses_ns)  # go_gc_duration_seconds_sum, in ns


def test_heap_debug1_trailer_pauses_are_ordered_by_numgc() -> None:
    stats = parse_memstats_trailer(_trailer("heapkinds.heap.debug1.txt"))
    assert stats.num_gc == 7
    assert stats.gc_pauses_ns[:2] == (382266, 551257)  # the ring's first slots are the first GCs
    assert stats.gc_pause_max_seconds == max(stats.gc_pauses_ns) / 1e9
    assert 0 < (stats.gc_cpu_fraction or 0) < 0.01


def test_healthy_captures_raise_no_gc_finding_but_show_their_numbers() -> None:
    for name in ("heapkinds.metrics.txt", "parked.metrics.txt"):
        gc = gc_from_memstats(parse_prometheus_text((CAPTURES / name).read_text()))
        assert gc.pause_max_seconds is not None and gc.cycles
        assert gc_findings(gc) == [], name


def test_gc_off_is_named_from_the_heap_goal_when_gogc_is_not_exported() -> None:
    stats = parse_expvar((CAPTURES / "heapkinds.vars.json").read_text())
    stats.next_gc = 2**63 - 1  # what NextGC reads with GOGC=off
    found = gc_findings(gc_from_memstats(stats))
    assert [f.category for f in found] == ["gc-off"]
    assert found[0].klass == "gc-health" and "nothing bounds the heap" in found[0].summary


def test_gomaxprocs_over_the_quota() -> None:
    old = gomaxprocs_finding(CpuConfig(8, 2.0, 0.31, 420, "go1.22.5"))
    assert old is not None and old.klass == "runtime-config"
    assert old.evidence["fits_gomaxprocs"] == 2 and old.evidence["throttling"]
    assert any("automaxprocs" in fix for fix in old.fix) and any("1.25" in fix for fix in old.fix)
    assert "31% of CFS periods throttled" in old.summary
    new = gomaxprocs_finding(CpuConfig(8, 2.0, None, None, "go1.27.3"))
    assert new is not None and new.fix[0].startswith("remove the explicit GOMAXPROCS")
    assert gomaxprocs_finding(CpuConfig(3, 2.5)) is None  # 2.5 CPUs fit 3 Ps
    assert gomaxprocs_finding(CpuConfig(8, None)) is None  # no quota: nothing to compare with
    assert gomaxprocs_finding(CpuConfig(4, 1.5)) is not None


def test_next_gc_pushed_back_while_numgc_stalls() -> None:
    receding = GcFacts(
        cycles=2, seconds=600, next_gc_bytes=(40 * MiB, 160 * MiB), heap_alloc_bytes=(30 * MiB, 150 * MiB)
    )
    assert [f.category for f in gc_findings(receding)] == ["gc-goal-receding"]
    busy = GcFacts(cycles=60, seconds=600, next_gc_bytes=(40 * MiB, 160 * MiB), heap_alloc_bytes=(30 * MiB, 150 * MiB))
    assert gc_findings(busy) == []  # the GC keeps running: the heap grows, but that is heap-growth's to judge
    one_snapshot = GcFacts(cycles=2, next_gc_bytes=(40 * MiB, 160 * MiB), heap_alloc_bytes=(30 * MiB, 150 * MiB))
    assert gc_findings(one_snapshot) == []


def _quota_series(gomaxprocs: float, quota_us: float) -> dict[str, np.ndarray]:
    values = runtime(flat())
    points = values["num_gc"].size
    values["gomaxprocs"] = np.full(points, gomaxprocs)
    values["container_cpu_quota"] = np.full(points, quota_us)
    values["container_cpu_period"] = np.full(points, 100_000.0)
    values["container_cpu_periods"] = np.cumsum(np.full(points, 150.0))
    values["container_cpu_throttled_periods"] = np.cumsum(np.full(points, 45.0))
    return values


def test_runtime_config_never_counts_toward_a_leaks_confidence() -> None:
    leak = runtime(ramp(20 * MiB, 200 * MiB))
    with_quota = {**_quota_series(8, 50_000.0), **leak}
    plain = analyze_fleet([InstanceSeries("a", _times(), leak, "api")])[0]
    flagged = analyze_fleet([InstanceSeries("a", _times(), with_quota, "api", go_version="go1.21.0")])[0]
    assert [s.to_json() for s in plain.suspects] == [s.to_json() for s in flagged.suspects]
    assert flagged.runtime is not None
    finding = next(f for f in flagged.runtime.findings if f.category == "gomaxprocs-over-quota")
    assert finding.evidence["cpu_quota_cores"] == 0.5 and finding.evidence["throttled_share"] == 0.3
    quiet = analyze_fleet([InstanceSeries("b", _times(), _quota_series(8, 50_000.0), "api")])[0]
    assert quiet.suspects == [] and quiet.runtime is not None and quiet.runtime.findings
    document = Report([flagged, quiet]).to_json()
    jsonschema.validate(document, SCHEMA)
    target = document["targets"][0]
    assert target["findings"][0]["class"] == "runtime-config" and target["gc"]["cycles"] > 0
    assert RuntimeFacts.from_json(target) == flagged.runtime


def test_long_pauses_need_a_long_tail_not_one_descheduled_pause() -> None:
    one = GcFacts(pause_p50_seconds=0.0002, pause_p75_seconds=0.0003, pause_max_seconds=0.091)  # seen live
    assert gc_findings(one) == []
    tail = GcFacts(pause_p50_seconds=0.004, pause_p75_seconds=0.012, pause_max_seconds=0.03)
    [finding] = gc_findings(tail)
    assert finding.category == "gc-long-pauses" and "p75 12.0 ms" in finding.summary
