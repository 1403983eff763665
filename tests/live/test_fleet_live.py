"""`leaksleuth fleet` against a real Prometheus scraping real Go services (testdata/go/memfleet) every second.

Eight replicas run for ~75 s: four leak in different ways, four are healthy look-alikes (one of them restarts
mid-window, one has memory and goroutines that follow a load going up and down). Prometheus is the Debian package,
on loopback, with a temp config and data dir; everything is killed at the end.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from tests.conftest import ROOT
from tests.support.golive import build, running
from tests.support.prometheus_live import free_port, instant_value, running_prometheus, scrape_job, wait_for

SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())
DATA_SECONDS = 72  # of scrapes at 1 s before judging
RESTART_AFTER = 32  # the "restarts" replica is killed and started again this long into the window
MEMORY_LIMIT = 400 << 20  # GOMEMLIMIT of the heap-leak replica
# replica -> (memfleet -mode, job, what leaksleuth must say: category, or None for quiet)
REPLICAS: dict[str, tuple[str, str, str | None]] = {
    "heap-leak": ("heap-leak", "api", "heap-growth"),
    "goroutine-leak": ("goroutine-leak", "api", "goroutine-growth"),
    "healthy-a": ("healthy", "api", None),
    "healthy-b": ("healthy", "api", None),
    "restarts": ("healthy", "api", None),
    "load-follow": ("load-follow", "worker", None),
    "offheap": ("offheap", "batch", "non-heap-growth"),
    "gc-off": ("gc-off", "batch", "rss-up-gc-stalled"),
}
LEAKING = {name for name, (_, _, category) in REPLICAS.items() if category}


@dataclass(slots=True)
class Fleet:
    prometheus: str
    addresses: dict[str, str]  # replica -> host:port (Prometheus' instance label)
    window: str

    def replica(self, instance: str) -> str:
        return next(name for name, address in self.addresses.items() if address == instance)


def fleet_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leaksleuth", "fleet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def fleet(go: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    workdir = tmp_path_factory.mktemp("fleet")
    binary = str(build(go, "memfleet", workdir))
    with contextlib.ExitStack() as stack:
        addresses, processes = {}, {}
        for name, (mode, _, _) in REPLICAS.items():
            env = ["env", f"GOMEMLIMIT={MEMORY_LIMIT}"] if name == "heap-leak" else []
            command = [*env, binary, "-mode", mode, "-addr", f"127.0.0.1:{free_port()}"]
            processes[name], addresses[name] = stack.enter_context(running(command))
        jobs: dict[str, list[str]] = {}
        for name, (_, job, _) in REPLICAS.items():
            jobs.setdefault(job, []).append(addresses[name])
        prometheus = stack.enter_context(running_prometheus(workdir, [scrape_job(j, t) for j, t in jobs.items()]))
        wait_for(
            lambda: len([r for r in instant_value(prometheus.url, "up") if r["value"][1] == "1"]) == len(REPLICAS),
            timeout=30,
            what="Prometheus scraping every replica",
        )
        began = time.monotonic()
        time.sleep(RESTART_AFTER)
        processes["restarts"].kill()
        processes["restarts"].wait(timeout=10)
        stack.enter_context(running([binary, "-mode", "healthy", "-addr", addresses["restarts"]]))
        time.sleep(max(0.0, DATA_SECONDS - (time.monotonic() - began)))
        yield Fleet(prometheus.url, addresses, window=f"{DATA_SECONDS + 5}s")


@pytest.fixture(scope="module")
def report(fleet: Fleet) -> dict[str, Any]:
    result = fleet_cli("--prometheus", fleet.prometheus, "--window", fleet.window, "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _by_replica(fleet: Fleet, report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {fleet.replica(t["target"]): t for t in report["targets"]}


def _top(target: dict[str, Any]) -> float:
    return max((s["confidence"] for s in target["suspects"]), default=0.0)


@pytest.mark.live
def test_leaking_replicas_rank_first_with_the_right_diagnosis(fleet: Fleet, report: dict[str, Any]) -> None:
    jsonschema.validate(report, SCHEMA)
    ranked = [fleet.replica(t["target"]) for t in report["targets"]]
    assert set(ranked) == set(REPLICAS)
    assert set(ranked[: len(LEAKING)]) == LEAKING, ranked
    for name, target in _by_replica(fleet, report).items():
        category = REPLICAS[name][2]
        if category is None:
            continue
        top = target["suspects"][0]
        assert top["category"] == category, (name, top)
        assert top["confidence"] >= 0.8, (name, top)
        assert (top["file"], top["line"]) == ("", 0)
        assert top["kind"] == ("goroutine" if category.startswith("goroutine") else "heap")
        assert target["verdict"] == "leaking"
        assert target["snapshots"] >= DATA_SECONDS - 5


@pytest.mark.live
def test_healthy_restarting_and_load_following_replicas_stay_quiet(fleet: Fleet, report: dict[str, Any]) -> None:
    targets = _by_replica(fleet, report)
    for name in ("healthy-a", "healthy-b", "restarts", "load-follow"):
        assert _top(targets[name]) < 0.5, (name, targets[name]["suspects"])
        assert targets[name]["verdict"] in ("healthy", "watch")
    assert targets["restarts"]["restarts"] == 1  # the restart was seen (process start time, GC count reset)
    assert all(targets[name]["restarts"] == 0 for name in REPLICAS if name != "restarts")
    # the load-follow replica's goroutines really did move: quiet because they came back down, not for lack of data
    assert targets["load-follow"]["latest"]["goroutines"] > 20


@pytest.mark.live
def test_heap_leak_is_forecast_to_hit_its_gomemlimit(fleet: Fleet, report: dict[str, Any]) -> None:
    heap_leak = _by_replica(fleet, report)["heap-leak"]["suspects"][0]
    forecast = next(s for s in heap_leak["evidence"]["signals"] if s["category"] == "oom-forecast")
    assert forecast["limit_source"] == "GOMEMLIMIT"
    assert forecast["limit_bytes"] == MEMORY_LIMIT
    assert 0 < forecast["seconds_to_limit"] < 3600  # ~1.25 MiB/s of leak toward 400 MiB
    assert "GOMEMLIMIT" in heap_leak["summary"]


@pytest.mark.live
def test_goroutine_leak_stands_out_from_its_peers(fleet: Fleet, report: dict[str, Any]) -> None:
    leak = _by_replica(fleet, report)["goroutine-leak"]["suspects"][0]
    peer = next(s for s in leak["evidence"]["signals"] if s["category"] == "peer-outlier")
    assert peer["peers"] == 4 and peer["value"] > 10 * peer["peer_median"]


@pytest.mark.live
def test_table_for_people_and_fail_on_gate(fleet: Fleet) -> None:
    result = fleet_cli("--prometheus", fleet.prometheus, "--window", fleet.window, "--fail-on", "0.8")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    first_rows = "\n".join(lines[:12])
    assert fleet.addresses["heap-leak"] in first_rows and "leaking" in first_rows
    assert "4 leaking" in result.stdout and "Traceback" not in result.stderr
    quiet = fleet_cli(
        "--prometheus", fleet.prometheus, "--window", fleet.window, "--selector", '{job="worker"}', "--fail-on", "0.5"
    )
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert fleet.addresses["load-follow"] in quiet.stdout and fleet.addresses["heap-leak"] not in quiet.stdout


@pytest.mark.live
def test_an_explicit_load_series_keeps_the_verdicts(fleet: Fleet) -> None:
    result = fleet_cli(
        "--prometheus", fleet.prometheus, "--window", fleet.window, "--json",
        "--load", "sum by (instance, job) (rate(app_requests_total[5s]))",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    targets = _by_replica(fleet, json.loads(result.stdout))
    assert _top(targets["load-follow"]) < 0.5
    assert _top(targets["heap-leak"]) >= 0.8 and _top(targets["goroutine-leak"]) >= 0.8


@pytest.mark.live
def test_prometheus_errors_are_one_clear_line(fleet: Fleet) -> None:
    bad = fleet_cli("--prometheus", fleet.prometheus, "--window", "60s", "--selector", '{job=~"("}')
    assert bad.returncode == 3
    assert "leaksleuth: error: Prometheus returned error: bad_data:" in bad.stderr
    assert "Traceback" not in bad.stderr
    nothing = fleet_cli("--prometheus", fleet.prometheus, "--window", "60s", "--selector", '{job="nope"}')
    assert nothing.returncode == 2
    assert 'no recent go_goroutines samples match {job="nope"}' in nothing.stderr
    assert "jobs with Go metrics: api, batch, worker" in nothing.stderr
