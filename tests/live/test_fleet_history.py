"""`leaksleuth fleet` over days of history in a real Prometheus: chunked range queries, cAdvisor join, baseline.

Three days of a five-pod service (one sample every 2 minutes) are written as OpenMetrics and backfilled with
`promtool tsdb create-blocks-from openmetrics`; the Debian Prometheus then serves them like scraped data. Analysing
two days at 15 s is 11,521 points per series, more than Prometheus answers in one query.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.support.prometheus_live import backfill, running_prometheus

SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())
MiB = float(1 << 20)
END = 1_790_000_000.0  # fixed, so the data is the same every run (--end points the analysis at it)
SAMPLE = 120.0
DAY = 86400.0
TIMES = np.arange(END - 3 * DAY, END + 1, SAMPLE)
IN_WINDOW = (TIMES - (END - 2 * DAY)) / (2 * DAY)  # 0..1 across the analysed window, negative before it
STEP_AT = (0.25, 0.55, 0.8)  # shop-1 leaves 300 goroutines behind at these points of the window
RESTART_AT = END - DAY  # shop-3 restarts here


def _go_series(pod: int, live: np.ndarray, goroutines: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    goal = 2 * live * (1 + rng.normal(0, 0.01, live.size))
    alloc_rate = np.full(live.size, 40 * MiB)
    starts = np.full(live.size, END - 10 * DAY)
    if pod == 3:
        starts[TIMES >= RESTART_AT] = RESTART_AT
    series = {
        "go_goroutines": goroutines,
        "go_memstats_heap_inuse_bytes": live + rng.uniform(0, 1, live.size) * (goal - live),
        "go_memstats_heap_alloc_bytes": live + rng.uniform(0, 1, live.size) * (goal - live),
        "go_memstats_next_gc_bytes": goal,
        "go_memstats_stack_inuse_bytes": goroutines * 8192,
        "process_resident_memory_bytes": goal + 25 * MiB + goroutines * 8192,
        "go_memstats_alloc_bytes_total": np.cumsum(alloc_rate * SAMPLE),
        "go_gc_duration_seconds_count": np.cumsum(rng.integers(20, 40, live.size)).astype(float),
        "process_start_time_seconds": starts,
        "go_gc_gomemlimit_bytes": np.full(live.size, 9.223372036854776e18),
        "up": np.ones(live.size),
    }
    if pod == 3:  # counters start again from zero in the new process
        for counter in ("go_memstats_alloc_bytes_total", "go_gc_duration_seconds_count"):
            after = TIMES >= RESTART_AT
            series[counter][after] -= series[counter][after][0]
    return series


def fleet_openmetrics() -> str:
    rng = np.random.default_rng(11)
    flat = np.full(TIMES.size, 40 * MiB) * (1 + rng.normal(0, 0.02, TIMES.size))
    window = np.clip(IN_WINDOW, 0, 1)
    daily = 1 + 0.6 * np.sin(2 * np.pi * TIMES / DAY)
    warm_up = np.minimum(40 * MiB, 5 * MiB + (TIMES - RESTART_AT) / 600 * 35 * MiB)  # ten minutes
    pods: dict[int, tuple[np.ndarray, np.ndarray]] = {
        0: (30 * MiB + window * 270 * MiB, np.full(TIMES.size, 60.0)),  # leaks through the window
        1: (flat, 60.0 + 300.0 * sum((at <= IN_WINDOW).astype(float) for at in STEP_AT)),
        2: (40 * MiB * daily, 30 + (100 * daily).round()),  # follows a daily load
        3: (np.where(TIMES < RESTART_AT, 40 * MiB, warm_up), np.full(TIMES.size, 60.0)),
        4: (flat, np.full(TIMES.size, 60.0)),
    }
    families: dict[str, list[str]] = {}
    for pod, (live, goroutines) in pods.items():
        labels = f'job="shop",instance="10.0.0.{pod}:8080",namespace="shop",pod="shop-{pod}",container="app"'
        series = _go_series(pod, live, goroutines, rng)
        for name, values in series.items():
            keep = np.ones(TIMES.size, dtype=bool)
            if pod == 3:  # two minutes down while restarting
                keep = (TIMES < RESTART_AT - SAMPLE) | (TIMES >= RESTART_AT)
            families.setdefault(name, []).extend(_lines(name, labels, TIMES[keep], values[keep]))
        rss = series["process_resident_memory_bytes"]
        limit = 0.0 if pod == 4 else 1024 * MiB  # shop-4 runs without a memory limit
        for container_id, part in _container_ids(pod):
            cadvisor = (
                f'job="kubelet",instance="node-1",namespace="shop",pod="shop-{pod}",container="app",id="{container_id}"'
            )
            families.setdefault("container_memory_working_set_bytes", []).extend(
                _lines("container_memory_working_set_bytes", cadvisor, TIMES[part], rss[part] + 5 * MiB)
            )
            families.setdefault("container_spec_memory_limit_bytes", []).extend(
                _lines("container_spec_memory_limit_bytes", cadvisor, TIMES[part], np.full(int(part.sum()), limit))
            )
    return "".join(line for lines in families.values() for line in lines) + "# EOF\n"


def _container_ids(pod: int) -> list[tuple[str, np.ndarray]]:
    if pod != 3:
        return [(f"/kubepods/pod{pod}/c1", np.ones(TIMES.size, dtype=bool))]
    # a restarted container is a new cAdvisor series (new id)
    return [(f"/kubepods/pod{pod}/c1", TIMES < RESTART_AT - SAMPLE), (f"/kubepods/pod{pod}/c2", TIMES >= RESTART_AT)]


def _lines(name: str, labels: str, times: np.ndarray, values: np.ndarray) -> list[str]:
    return [f"{name}{{{labels}}} {value:.17g} {stamp:.0f}\n" for stamp, value in zip(times, values, strict=True)]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("history")
    backfill(fleet_openmetrics(), workdir / "data", workdir)
    with running_prometheus(workdir, [], data_dir=workdir / "data") as server:
        yield server.url


def fleet(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "leaksleuth", "fleet", "--prometheus", url, "--end", f"{END:.0f}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def report(prometheus: str) -> dict[str, Any]:
    result = fleet(prometheus, "--window", "2d", "--step", "15s", "--baseline-window", "1d", "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    return document


def _pods(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["labels"]["pod"]: t for t in report["targets"]}


def _top(target: dict[str, Any]) -> float:
    return max((s["confidence"] for s in target["suspects"]), default=0.0)


def _signal(target: dict[str, Any], category: str) -> dict[str, Any]:
    return next(
        s for suspect in target["suspects"] for s in suspect["evidence"]["signals"] if s["category"] == category
    )


@pytest.mark.live
def test_two_days_at_15s_needs_chunks_and_gets_every_point(prometheus: str, report: dict[str, Any]) -> None:
    params = {"query": "go_goroutines", "start": f"{END - 2 * DAY:.0f}", "end": f"{END:.0f}", "step": "15"}
    refused = httpx.get(f"{prometheus}/api/v1/query_range", params=params, timeout=30)
    assert refused.status_code == 400 and "exceeded maximum resolution" in refused.json()["error"]
    assert report["source"]["step_seconds"] == 15
    assert {t["snapshots"] for t in report["targets"]} == {11_521}


@pytest.mark.live
def test_the_leaking_pod_ranks_first_with_forecast_baseline_and_peers(report: dict[str, Any]) -> None:
    assert report["targets"][0]["labels"]["pod"] == "shop-0"
    leak = report["targets"][0]["suspects"][0]
    assert leak["category"] == "heap-growth" and leak["confidence"] >= 0.8
    assert {"oom-forecast", "above-baseline", "peer-outlier"} <= set(leak["evidence"]["used"])
    forecast = _signal(report["targets"][0], "oom-forecast")
    assert forecast["limit_source"] == "container memory limit" and forecast["limit_bytes"] == 1024 * MiB
    assert forecast["metric"] == "container_working_set_bytes"
    baseline = _signal(report["targets"][0], "above-baseline")
    # the day before the window: 30 MiB live, so heap in use 30-60 MiB (GC sawtooth) and RSS ~85 MiB
    expected = {"heap_inuse": (55 * MiB, 61 * MiB), "rss_bytes": (84 * MiB, 92 * MiB)}[baseline["metric"]]
    assert expected[0] < baseline["baseline_p95"] < expected[1]
    assert baseline["value"] > 3 * baseline["baseline_p95"]


@pytest.mark.live
def test_growth_in_steps_is_dated(report: dict[str, Any]) -> None:
    steps = _signal(_pods(report)["shop-1"], "step-growth")["steps"]
    window_start = END - 2 * DAY
    assert [round((s["at"] - window_start) / (2 * DAY), 2) for s in steps] == list(STEP_AT)
    assert _top(_pods(report)["shop-1"]) >= 0.5


@pytest.mark.live
def test_daily_load_restart_and_flat_pods_stay_quiet(report: dict[str, Any]) -> None:
    pods = _pods(report)
    for pod in ("shop-2", "shop-3", "shop-4"):
        assert _top(pods[pod]) < 0.5, (pod, pods[pod]["suspects"])
    assert pods["shop-3"]["restarts"] == 1
    assert pods["shop-3"]["latest"]["container_working_set_bytes"] > 0  # the new container's series was joined
    assert [t["labels"]["pod"] for t in report["targets"]][:2] == ["shop-0", "shop-1"]


@pytest.mark.live
def test_table_and_an_empty_past_window(prometheus: str) -> None:
    table = fleet(prometheus, "--window", "2d", "--selector", '{namespace="shop"}')
    assert table.returncode == 0, table.stderr
    first_row = next(line for line in table.stdout.splitlines() if "│" in line)
    assert "10.0.0.0:8080" in first_row and "leaking" in first_row
    assert "5 instances" in table.stdout
    before = subprocess.run(
        [sys.executable, "-m", "leaksleuth", "fleet", "--prometheus", prometheus, "--end", f"{END - 5 * DAY:.0f}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert before.returncode == 2 and "no recent go_goroutines samples match {}" in before.stderr
