"""Cluster outbreak signals, live: a real Prometheus (Debian package) scraping real Go replicas (testdata/go/memfleet)
every second, then `leaksleuth fleet --json`.

- service ``shop``: the victim leaks its heap until it SIGKILLs itself at 48 MiB (the OOM killer's way); the test
  starts it again on the same address (the kubelet's way). Its two peers take its retries when it stops answering
  (-storm-from: 24 MiB of retry buffers held 20 s): the knock-on. One peer with no storm is the calm control.
- service ``quiet``: a healthy replica is killed and started again mid-window while its peers stay calm and one of
  them leaks steadily on its own: no incident (the creeping peer's rise is its own trend, not a knock-on).
- ``web``: GOMAXPROCS=2 under a declared 0.25-CPU quota, cAdvisor's view of it scraped from /metrics/cadvisor.
- ``batch``: the GC disabled (GOGC=off).
- ``orders``: two replicas keep 1 KiB per request, one getting twice the other's traffic: a leak in proportion to
  the load (and ``quiet``'s creeping replica leaks on one node only).
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
DATA_SECONDS = 70
RESTART_AFTER = 30  # the quiet service's restart
QUOTA_LABELS = {"namespace": "web", "pod": "web-0", "container": "app"}


@dataclass(slots=True)
class Outbreak:
    prometheus: str
    addresses: dict[str, str]
    victim_died_after: float  # seconds into the window

    def replica(self, instance: str) -> str:
        return next(name for name, address in self.addresses.items() if address == instance)


def _start(stack: contextlib.ExitStack, binary: str, *args: str, env: tuple[str, ...] = ()) -> tuple[Any, str]:
    command = [*(["env", *env] if env else []), binary, *args]
    process, address = stack.enter_context(running(command))
    return process, address


@pytest.fixture(scope="module")
def outbreak(go: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outbreak]:
    workdir = tmp_path_factory.mktemp("outbreak")
    binary = str(build(go, "memfleet", workdir))
    with contextlib.ExitStack() as stack:
        addr: dict[str, str] = {}
        victim_addr = f"127.0.0.1:{free_port()}"
        victim, addr["victim"] = _start(stack, binary, "-mode", "heap-leak", "-oom-at", "48", "-addr", victim_addr)
        storm = ("-mode", "healthy", "-storm-from", victim_addr, "-storm-mib", "24", "-storm-hold", "20s")
        _, addr["peer-a"] = _start(stack, binary, *storm, "-addr", "127.0.0.1:0")
        _, addr["peer-b"] = _start(stack, binary, *storm, "-addr", "127.0.0.1:0")
        _, addr["shop-calm"] = _start(stack, binary, "-mode", "healthy")
        restarts, addr["restarts"] = _start(stack, binary, "-mode", "healthy")
        _, addr["calm"] = _start(stack, binary, "-mode", "healthy")
        _, addr["creeping"] = _start(stack, binary, "-mode", "heap-leak")
        quota = ("-cpu-quota", "0.25", "-burn", "1", *(f"-{k}={v}" for k, v in QUOTA_LABELS.items()))
        _, addr["quota"] = _start(stack, binary, "-mode", "healthy", *quota, env=("GOMAXPROCS=2",))
        _, addr["gc-off"] = _start(stack, binary, "-mode", "gc-off")
        _, addr["orders-a"] = _start(stack, binary, "-mode", "request-leak", "-load", "20")
        _, addr["orders-b"] = _start(stack, binary, "-mode", "request-leak", "-load", "40")
        jobs = [
            scrape_job("shop", [addr[n] for n in ("victim", "peer-a", "peer-b", "shop-calm")]),
            scrape_job("quiet", [addr[n] for n in ("restarts", "calm", "creeping")]),
            scrape_job("web", [addr["quota"]], labels=QUOTA_LABELS),
            scrape_job("batch", [addr["gc-off"]]),
            scrape_job("orders", [addr["orders-a"], addr["orders-b"]]),
            {**scrape_job("cadvisor", [addr["quota"]]), "metrics_path": "/metrics/cadvisor", "honor_labels": True},
        ]
        prometheus = stack.enter_context(running_prometheus(workdir, jobs))
        wait_for(
            lambda: len([r for r in instant_value(prometheus.url, "up") if r["value"][1] == "1"]) >= 11,
            timeout=30,
            what="Prometheus scraping every replica",
        )
        began = time.monotonic()
        died_after = _restart_when_killed(stack, binary, victim, victim_addr, began)
        time.sleep(max(0.0, RESTART_AFTER - (time.monotonic() - began)))
        restarts.kill()
        restarts.wait(timeout=10)
        stack.enter_context(running([binary, "-mode", "healthy", "-addr", addr["restarts"]]))
        time.sleep(max(0.0, DATA_SECONDS - (time.monotonic() - began)))
        yield Outbreak(prometheus.url, addr, died_after)


def _restart_when_killed(
    stack: contextlib.ExitStack, binary: str, victim: subprocess.Popen[str], address: str, began: float
) -> float:
    """Wait (bounded) for the victim's self-inflicted SIGKILL, then start it again, healthy, on its address."""
    try:
        victim.wait(timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail("the victim never reached its -oom-at heap")
    assert victim.returncode == -9, victim.returncode
    died = time.monotonic() - began
    time.sleep(2)  # the kubelet's back-off, compressed
    stack.enter_context(running([binary, "-mode", "healthy", "-addr", address]))
    return died


@pytest.fixture(scope="module")
def report(outbreak: Outbreak, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = _fleet(outbreak, "--json")
    assert result.returncode == 0, result.stderr
    kept = tmp_path_factory.mktemp("outbreak-report") / "fleet.json"  # for a failure's post-mortem
    kept.write_text(result.stdout)
    print(f"fleet --json kept in {kept}")
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _fleet(outbreak: Outbreak, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leaksleuth", "fleet", "--prometheus", outbreak.prometheus,
         "--window", f"{DATA_SECONDS + 5}s", "--baseline-window", "0", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _targets(outbreak: Outbreak, report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {outbreak.replica(t["target"]): t for t in report["targets"] if t["target"] in outbreak.addresses.values()}


def _top(target: dict[str, Any]) -> float:
    return max((s["confidence"] for s in target["suspects"]), default=0.0)


@pytest.mark.live
def test_knock_on_incident_names_the_victim_and_the_peers_with_rise_and_delay(
    outbreak: Outbreak, report: dict[str, Any]
) -> None:
    jsonschema.validate(report, SCHEMA)
    incidents = report.get("incidents", [])
    [shop] = [i for i in incidents if i["service"] == "shop"]
    assert shop["kind"] == "knock-on" and shop["victim"] == outbreak.addresses["victim"]
    assert shop["restarted"] == [outbreak.addresses["victim"]]
    affected = {outbreak.replica(p["instance"]): p for p in shop["peers"]}
    assert set(affected) == {"peer-a", "peer-b"}, shop  # the calm peer of the shop did not rise
    assert shop["peers_checked"] == 3
    for peer in affected.values():
        assert peer["rise_share"] >= 0.2 and peer["rise_bytes"] >= 8 << 20, peer
        assert 0 < peer["delay_seconds"] <= 15, peer  # polls every 250 ms, 2 s to build up, 1 s scrapes
    assert shop["root_cause"]["kind"] == "heap" and shop["root_cause"]["instance"] == outbreak.addresses["victim"]
    assert "heap" in shop["root_cause"]["category"] or "growth" in shop["root_cause"]["category"]
    victim = _targets(outbreak, report)["victim"]
    [marked] = [s for s in victim["suspects"] if "root_cause_of" in s["evidence"]]
    assert marked["category"] == shop["root_cause"]["category"]
    assert marked["evidence"]["root_cause_of"]["incident"] == "knock-on"


@pytest.mark.live
def test_a_restart_with_calm_or_self_leaking_peers_is_no_incident(outbreak: Outbreak, report: dict[str, Any]) -> None:
    quiet = [i for i in report.get("incidents", []) if i["service"] == "quiet"]
    assert quiet == [], json.dumps(quiet, indent=1)
    targets = _targets(outbreak, report)
    assert targets["restarts"]["restarts"] == 1 and _top(targets["creeping"]) >= 0.8  # it did leak, on its own


@pytest.mark.live
def test_gomaxprocs_over_the_quota_is_a_runtime_config_finding_not_a_leak(
    outbreak: Outbreak, report: dict[str, Any]
) -> None:
    quota = _targets(outbreak, report)["quota"]
    [finding] = [f for f in quota["findings"] if f["category"] == "gomaxprocs-over-quota"]
    assert finding["class"] == "runtime-config"
    evidence = finding["evidence"]
    assert evidence["gomaxprocs"] == 2 and evidence["cpu_quota_cores"] == 0.25 and evidence["fits_gomaxprocs"] == 1
    assert evidence["throttled_share"] > 0.05 and evidence["throttling"], evidence  # 0.3+ CPU used of 0.25
    assert evidence["go_version"].startswith("go1.")  # go1.27: explicit GOMAXPROCS, so "remove it" comes first
    assert finding["fix"][0].startswith("remove the explicit GOMAXPROCS")
    assert _top(quota) < 0.5 and quota["verdict"] in ("healthy", "watch")


@pytest.mark.live
def test_gc_health_numbers_and_the_gc_off_finding(outbreak: Outbreak, report: dict[str, Any]) -> None:
    targets = _targets(outbreak, report)
    gc_off = targets["gc-off"]
    assert [f["category"] for f in gc_off["findings"]] == ["gc-off"]
    assert gc_off["gc"]["gogc_percent"] == -1
    for name in ("calm", "shop-calm", "peer-a"):
        gc = targets[name]["gc"]
        assert targets[name]["findings"] == [], name  # healthy controls: the numbers, no finding
        # a busy shared machine deschedules a replica now and then: one pause of ~0.1 s is no finding
        assert 0 < gc["pause_p50_seconds"] <= gc["pause_max_seconds"] < 0.25 and gc["cycles"] > 0
        assert gc["gogc_percent"] == 100 and 0 <= gc["stw_fraction"] < 0.01
    # none of the new classes raised a healthy replica's confidence
    assert all(_top(targets[n]) < 0.5 for n in ("calm", "shop-calm", "quota", "restarts"))


@pytest.mark.live
def test_table_shows_the_incident_the_gc_and_the_runtime_findings(outbreak: Outbreak) -> None:
    result = _fleet(outbreak)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    print(out)  # the README's transcript (pytest -s)
    assert "incident knock-on on shop" in out and outbreak.addresses["victim"] in out
    assert "GC: pauses p50" in out and "Runtime findings (not leaks)" in out
    assert "gomaxprocs-over-quota" in out and "gc-off" in out


@pytest.mark.live
def test_per_node_leak_rates_next_to_their_load(outbreak: Outbreak, report: dict[str, Any]) -> None:
    comparisons = {(c["service"], c["kind"]): c for c in report.get("node_comparisons", [])}
    orders = comparisons[("orders", "heap")]
    assert orders["pattern"] == "proportional-to-load", orders
    rates = {outbreak.replica(n["instance"]): n for n in orders["nodes"]}
    assert 1.4 < rates["orders-b"]["rate"] / rates["orders-a"]["rate"] < 2.8  # twice the traffic, ~twice the leak
    assert rates["orders-b"]["load"] > rates["orders-a"]["load"]
    quiet = comparisons[("quiet", "heap")]
    assert quiet["pattern"] == "one-node-only" and outbreak.addresses["creeping"] in quiet["summary"]
    assert ("shop", "heap") not in comparisons or comparisons[("shop", "heap")]["pattern"] != "proportional-to-load"
