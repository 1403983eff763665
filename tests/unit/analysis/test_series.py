"""Series detectors on synthetic runtime metrics: each leak shape is named, each healthy look-alike stays quiet.

The shapes mimic what client_golang reports (GC sawtooth in heap in use, a step-wise heap goal, counters that reset
on restart); numbers are seeded, so every run sees the same series.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import numpy as np
import pytest

from leaksleuth.analysis.evidence import follows_load
from leaksleuth.analysis.series.fleet import InstanceSeries, analyze_fleet, analyze_instance, restart_flags
from leaksleuth.formats.memstats import parse_expvar, parse_prometheus_text
from leaksleuth.model.report import Report, TargetReport
from tests.conftest import ROOT

MiB = float(1 << 20)
STEP = 15.0
POINTS = 240  # one hour at 15 s
T0 = 1_800_000_000.0
SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())


def _times(points: int = POINTS) -> np.ndarray:
    return T0 + STEP * np.arange(points)


def runtime(live_heap: np.ndarray, *, seed: int = 1, goroutines: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Series a Go process with this live heap reports: heap goal 2x live at each GC, heap in use between live and
    goal (the GC sawtooth), RSS above the goal, ~1 GC per scrape, allocation at a steady rate."""
    rng = np.random.default_rng(seed)
    points = live_heap.size
    goal = 2 * live_heap * (1 + rng.normal(0, 0.01, points))
    count = goroutines if goroutines is not None else np.full(points, 40.0)
    return {
        "next_gc": goal,
        "heap_inuse": live_heap + rng.uniform(0, 1, points) * (goal - live_heap),
        "heap_alloc": live_heap + rng.uniform(0, 1, points) * (goal - live_heap),
        "stack_inuse": count * 8192,
        "rss_bytes": goal + 20 * MiB + count * 8192,
        "num_gc": np.cumsum(rng.integers(1, 3, points)).astype(float),
        "total_alloc": np.cumsum(np.full(points, 50 * MiB)),
        "goroutines": count,
        "process_start_seconds": np.full(points, T0 - 3600),
        "gomemlimit_bytes": np.full(points, float(2**63 - 1)),
    }


def instance(name: str, values: dict[str, np.ndarray], **kwargs: Any) -> InstanceSeries:
    return InstanceSeries(name, _times(next(iter(values.values())).size), values, kwargs.pop("group", "api"), **kwargs)


def judge(*instances: InstanceSeries) -> dict[str, TargetReport]:
    return {r.target: r for r in analyze_fleet(instances)}


def top(report: TargetReport) -> float:
    return max((s.confidence for s in report.suspects), default=0.0)


def used(report: TargetReport) -> set[str]:
    return {u for s in report.suspects for u in s.evidence.used}


def flat(level: float = 30 * MiB) -> np.ndarray:
    return np.full(POINTS, level)


def ramp(start: float, end: float, points: int = POINTS) -> np.ndarray:
    return np.linspace(start, end, points)


# ---- leaks ----------------------------------------------------------------------------------------------------


def test_heap_leak_is_named_with_a_series_only_site() -> None:
    report = judge(instance("leak", runtime(ramp(30 * MiB, 120 * MiB))))["leak"]
    suspect = report.suspects[0]
    assert (suspect.kind, suspect.category) == ("heap", "heap-growth")
    assert suspect.confidence >= 0.8
    assert (suspect.function, suspect.file, suspect.line) == ("", "", 0)
    assert re.match(r"heap goal 60(\.\d)?MiB → 240MiB \(\+180MiB, ", suspect.summary), suspect.summary
    assert report.extra["verdict"] == "leaking"


def test_goroutine_leak() -> None:
    values = runtime(flat(), goroutines=ramp(40, 1500).round())
    suspect = judge(instance("g", values))["g"].suspects[0]
    assert (suspect.kind, suspect.category) == ("goroutine", "goroutine-growth")
    assert suspect.confidence >= 0.8
    assert "goroutines 40 → 1,500" in suspect.summary


def test_memory_outside_the_heap_with_the_gc_running() -> None:
    values = runtime(flat())
    values["rss_bytes"] = values["rss_bytes"] + ramp(0, 200 * MiB)
    suspect = judge(instance("cgo", values))["cgo"].suspects[0]
    assert suspect.category == "non-heap-growth" and suspect.confidence >= 0.8


def test_goroutine_stacks_are_not_counted_as_memory_outside_the_heap() -> None:
    values = runtime(flat(), goroutines=ramp(40, 6000).round())  # +46 MiB of stacks, all in stack_inuse
    report = judge(instance("stacks", values))["stacks"]
    assert "non-heap-growth" not in used(report)
    assert report.suspects[0].category == "goroutine-growth"


def test_gc_off_rss_grows_without_gc_cycles() -> None:
    values = runtime(flat())
    garbage = ramp(30 * MiB, 400 * MiB)
    values.update(
        next_gc=np.full(POINTS, 8.946670875745437e18),  # what the runtime reports with GOGC=off
        heap_inuse=garbage,
        heap_alloc=garbage,
        rss_bytes=garbage + 20 * MiB,
        num_gc=np.full(POINTS, 3.0),
    )
    suspect = judge(instance("gcoff", values))["gcoff"].suspects[0]
    assert suspect.category == "rss-up-gc-stalled" and suspect.confidence >= 0.8
    assert "the GC is off" in suspect.summary


def test_rss_up_while_the_gc_idles_points_outside_the_heap() -> None:
    values = runtime(flat())
    values["num_gc"] = np.floor((_times() - T0) / 120.0)  # only the runtime's forced GC, every 2 minutes
    values["rss_bytes"] = values["rss_bytes"] + ramp(0, 150 * MiB)
    suspect = judge(instance("idle", values))["idle"].suspects[0]
    assert suspect.category == "rss-up-gc-stalled"
    assert "outside the Go heap" in suspect.summary


def test_growth_in_steps_that_never_come_back() -> None:
    goroutines = np.full(POINTS, 40.0)
    for start in (70, 130, 190):  # three incidents, each leaving 300 goroutines behind
        goroutines[start:] += 300
    values = runtime(flat(), goroutines=goroutines + np.random.default_rng(3).integers(-2, 3, POINTS))
    suspect = next(s for s in judge(instance("steps", values))["steps"].suspects if s.kind == "goroutine")
    assert suspect.category == "step-growth" and suspect.confidence >= 0.5
    steps = next(s for s in suspect.evidence.to_json()["signals"] if s["category"] == "step-growth")["steps"]
    assert [round((step["at"] - T0) / STEP) for step in steps] == [70, 130, 190]


def test_an_oom_kill_loop_is_a_leak_that_restarts() -> None:
    live = np.concatenate([ramp(30 * MiB, 200 * MiB, 120), ramp(30 * MiB, 200 * MiB, 120)])
    values = runtime(live)
    values["process_start_seconds"] = np.where(np.arange(POINTS) < 120, T0 - 60, T0 + 120 * STEP)
    values["num_gc"][120:] -= values["num_gc"][119]
    report = judge(instance("oom", values))["oom"]
    assert report.extra["restarts"] == 1
    assert report.suspects[0].category == "heap-growth" and report.suspects[0].confidence >= 0.8
    assert "restart-cycle" in used(report)


def test_a_leak_that_just_restarted_is_still_reported() -> None:
    live = np.concatenate([ramp(30 * MiB, 300 * MiB, POINTS - 4), np.full(4, 10 * MiB)])
    values = runtime(live)
    values["process_start_seconds"][-4:] = T0 + POINTS * STEP
    suspect = judge(instance("fresh", values))["fresh"].suspects[0]
    assert suspect.category == "heap-growth" and 0.5 <= suspect.confidence < 0.95
    assert "before the latest restart" in suspect.evidence.to_json()["signals"][0]["discount"]


# ---- look-alikes ----------------------------------------------------------------------------------------------


def test_healthy_process_with_gc_sawtooth_is_quiet() -> None:
    report = judge(instance("ok", runtime(flat())))["ok"]
    assert top(report) < 0.5 and report.extra["verdict"] == "healthy"


def test_warm_up_that_flattens_out_is_quiet() -> None:
    """Half the window warming up (a cache loading), then holding: significant growth, but it stopped."""
    live = np.concatenate([ramp(5 * MiB, 60 * MiB, POINTS // 2), np.full(POINTS - POINTS // 2, 60 * MiB)])
    report = judge(instance("warm", runtime(live)))["warm"]
    assert top(report) < 0.5
    growth = next(s for s in report.suspects[0].evidence.to_json()["signals"] if s["category"] == "heap-growth")
    assert growth["discount"] == "growth has flattened out (warm-up or a bounded cache)"


def test_bounded_cache_sawtooth_is_quiet() -> None:
    live = 30 * MiB + (np.arange(POINTS) % 90) * MiB  # fills for 90 scrapes, then is flushed
    assert top(judge(instance("cache", runtime(live)))["cache"]) < 0.5


def test_a_restart_cuts_the_series_and_the_new_process_warms_up_quietly() -> None:
    live = np.concatenate([flat()[:150], ramp(5 * MiB, 30 * MiB, 10), flat()[:80]])
    values = runtime(live)
    values["process_start_seconds"][150:] = T0 + 150 * STEP
    values["num_gc"][150:] -= values["num_gc"][149]
    values["total_alloc"][150:] -= values["total_alloc"][149]
    report = judge(instance("restarted", values))["restarted"]
    assert report.extra["restarts"] == 1 and top(report) < 0.5


def test_restarts_are_seen_in_the_process_start_time_and_in_counter_resets() -> None:
    values = runtime(flat())
    values["num_gc"][100:] -= values["num_gc"][99]  # a counter reset alone (no process_start_seconds)
    del values["process_start_seconds"]
    flags = restart_flags(instance("counter", values))
    assert [index for index, flag in enumerate(flags) if flag] == [100]


def test_memory_and_goroutines_that_follow_the_load_are_quiet() -> None:
    """Traffic grows over the hour with one deep dip: memory and goroutines grow too, and dip with it. Alone the
    curve looks like a leak; with the load series it is explained, down as well as up."""
    t = np.linspace(0, 1, POINTS)
    load = 1 + 2 * t - 1.2 * np.exp(-(((t - 0.6) / 0.06) ** 2))
    values = runtime(30 * MiB * load, goroutines=(40 + 400 * load).round())
    assert top(judge(instance("busy", values))["busy"]) >= 0.8  # without knowing the load
    values["load"] = load * 1000
    report = judge(instance("busy", values))["busy"]
    assert top(report) < 0.5
    assert all(
        s.evidence.to_json()["signals"][0]["discount"] == "moves with the load, down as well as up"
        for s in report.suspects
    )


def test_rising_with_the_load_is_no_excuse_when_the_load_never_fell() -> None:
    load = np.linspace(1, 3, POINTS)  # a per-request leak rises with traffic too
    values = runtime(flat(), goroutines=(40 + 400 * load).round())
    values["load"] = load * 1000
    suspect = judge(instance("per-request", values))["per-request"].suspects[0]
    assert suspect.category == "goroutine-growth" and suspect.confidence >= 0.8
    assert follows_load(_times(), values["goroutines"], values["load"]) is None


def test_load_proxy_is_the_allocation_rate_when_no_load_series_is_given() -> None:
    times = _times()
    load = 1 + 0.8 * np.sin(np.linspace(0, 3 * np.pi, POINTS))
    values = runtime(flat(), goroutines=(40 + 400 * load).round())
    values["total_alloc"] = np.cumsum(load * 50 * MiB)
    from leaksleuth.analysis.series.fleet import segments
    from leaksleuth.analysis.series.signals import load_series

    proxy = load_series(segments(InstanceSeries("x", times, values))[0])
    assert proxy is not None and np.corrcoef(proxy[2:], load[2:])[0, 1] > 0.95


# ---- supporting evidence --------------------------------------------------------------------------------------


def test_forecast_against_the_container_limit_and_not_against_an_unset_gomemlimit() -> None:
    values = runtime(ramp(30 * MiB, 200 * MiB))
    values["container_working_set_bytes"] = values["rss_bytes"] + 10 * MiB
    values["container_limit_bytes"] = np.full(POINTS, 512 * MiB)
    suspect = judge(instance("pod", values))["pod"].suspects[0]
    forecast = next(s for s in suspect.evidence.to_json()["signals"] if s["category"] == "oom-forecast")
    assert forecast["limit_source"] == "container memory limit" and forecast["metric"] == "container_working_set_bytes"
    assert 0 < forecast["seconds_to_limit"] < 3600
    unlimited = runtime(ramp(30 * MiB, 200 * MiB))  # GOMEMLIMIT = MaxInt64 and no container limit
    assert "oom-forecast" not in used(judge(instance("nolimit", unlimited))["nolimit"])


def test_a_level_alone_is_a_hint_never_a_verdict() -> None:
    peers = [instance(f"peer-{i}", runtime(flat(), seed=i)) for i in range(4)]
    odd = instance("odd", runtime(flat(), goroutines=np.full(POINTS, 2000.0)), baselines={"goroutines": 400.0})
    report = judge(odd, *peers)["odd"]
    assert {"peer-outlier", "above-baseline"} <= used(report)
    assert 0.2 <= top(report) < 0.5 and report.extra["verdict"] == "watch"


def test_peers_reinforce_real_growth() -> None:
    peers = [instance(f"peer-{i}", runtime(flat(), seed=i)) for i in range(4)]
    alone = top(judge(instance("leak", runtime(ramp(30 * MiB, 45 * MiB))))["leak"])
    with_peers = judge(instance("leak", runtime(ramp(30 * MiB, 45 * MiB))), *peers)["leak"]
    assert top(with_peers) >= alone and all(top(r) < 0.5 for r in judge(*peers).values())


# ---- input and output -----------------------------------------------------------------------------------------


def test_report_is_ranked_and_valid_report_at_1() -> None:
    reports = analyze_fleet(
        [
            instance("healthy", runtime(flat())),
            instance("leak", runtime(ramp(30 * MiB, 120 * MiB))),
            instance("goroutines", runtime(flat(), goroutines=ramp(40, 900).round())),
        ]
    )
    assert reports[-1].target == "healthy"
    document = Report(reports).to_json()
    jsonschema.validate(document, SCHEMA)
    assert document["targets"][0]["group"] == "api" and document["targets"][0]["snapshots"] == POINTS


def test_from_memstats_reads_what_watch_scrapes() -> None:
    captures = ROOT / "testdata/captures"
    metrics = parse_prometheus_text((captures / "parked.metrics.txt").read_text())
    expvar = parse_expvar((captures / "parked.vars.json").read_bytes())
    series = InstanceSeries.from_memstats("http://127.0.0.1:6060", [(T0 + 10, metrics), (T0, expvar)], group="parked")
    assert series.times.tolist() == [T0, T0 + 10]
    assert series.values["num_gc"][0] == expvar.num_gc  # expvar has NumGC
    assert series.values["goroutines"][1] == metrics.goroutines and np.isnan(series.values["goroutines"][0])
    assert series.values["process_start_seconds"][1] == metrics.process_start_seconds
    assert "container_limit_bytes" not in series.values


def test_misaligned_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="has 3 points"):
        InstanceSeries("x", _times(4), {"goroutines": np.ones(3)})
    with pytest.raises(ValueError, match="strictly increasing"):
        InstanceSeries("x", np.array([2.0, 1.0]), {"goroutines": np.ones(2)})


def test_sweep_of_warm_ups_and_leaks_of_many_shapes_and_sizes() -> None:
    """Seeded sweep: warm-ups of 5-60% of the window never reach 0.5; leaks growing 15%-300% (linear, slowing,
    in stairs) always do."""
    rng = np.random.default_rng(7)
    x = np.linspace(0, 1, POINTS)
    for case in range(60):
        level = rng.uniform(20, 200) * MiB
        warm = int(rng.uniform(0.05, 0.6) * POINTS)
        live = np.concatenate([ramp(level * 0.1, level, warm), np.full(POINTS - warm, level)])
        warm_up = judge(instance("w", runtime(live * (1 + rng.normal(0, 0.02, POINTS)), seed=case)))["w"]
        assert top(warm_up) < 0.5, (case, warm / POINTS, warm_up.suspects)
        shape = [x, np.sqrt(x), np.floor(x * 6) / 6][case % 3]
        rate = rng.uniform(0.15, 3.0)
        leak = judge(instance("l", runtime(level * (1 + rate * shape) * (1 + rng.normal(0, 0.02, POINTS)), seed=case)))
        assert top(leak["l"]) >= 0.5, (case, case % 3, rate, leak["l"].suspects)


def test_one_instance_with_its_peers_like_a_watch_would_ask() -> None:
    peers = [instance(f"peer-{i}", runtime(flat(), seed=i)) for i in range(3)]
    leak = instance("leak", runtime(flat(), goroutines=ramp(40, 2000).round()))
    report = analyze_instance(leak, peers)
    assert report.suspects[0].category == "goroutine-growth"
    assert "peer-outlier" in report.suspects[0].evidence.used
    assert top(analyze_instance(peers[0], [leak, *peers[1:]])) < 0.5
