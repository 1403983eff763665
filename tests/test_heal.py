"""Self-healing end to end: a Deployment of real Go processes on KMock's Kubernetes emulator (tests/k8s_harness)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leaksleuth.app.heal import HealConfig, Healer
from leaksleuth.integrations.kubernetes import Kubernetes
from leaksleuth.store.db import Store, open_store
from tests.golive import GO_MODULE, build, marker_line
from tests.k8s_harness import NAMESPACE, Cluster

SOURCE = GO_MODULE / "goleaks" / "main.go"
LEAK = "timeout-send"
HEALTHY = "worker-pool"


@pytest.fixture(scope="module")
def goleaks(go: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(go, "goleaks", tmp_path_factory.mktemp("bin"))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = open_store(str(tmp_path / "store"))
    yield opened
    opened.close()


def _healer(cluster: Cluster, store: Store, **config: Any) -> Healer:
    return Healer(Kubernetes(cluster.api_client), store, HealConfig(**config))


async def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _metric(healer: Healer, **labels: str) -> float:
    value = healer.registry.get_sample_value("leaksleuth_remediations_total", labels)
    return value or 0.0


async def test_one_leaking_replica_of_four_is_captured_quarantined_replaced_and_deleted(
    kmock: Any, goleaks: Path, store: Store
) -> None:
    async with Cluster(kmock, goleaks) as cluster:
        leaking, *healthy = await cluster.add_deployment("web", [LEAK, HEALTHY, HEALTHY, HEALTHY])
        healer = _healer(cluster, store, action="quarantine", keep=2.0)  # capture at its defaults: 3 samples, 5 s
        started = time.monotonic()
        decision = await healer.on_alert({"alertname": "GoGoroutineLeak", "namespace": NAMESPACE, "pod": leaking})
        alert_to_patch = time.monotonic() - started
        assert decision is not None and decision.result == "done", decision
        assert alert_to_patch <= 120
        print(f"alert -> quarantine patch: {alert_to_patch:.1f} s")  # the README quotes it (pytest -s)

        # the report names the leaking line, and carries the action
        assert decision.report_id is not None
        report = store.report(decision.report_id)
        assert report is not None
        top = report.document["targets"][0]["suspects"][0]
        assert (Path(top["file"]), top["line"]) == (SOURCE, marker_line(SOURCE, LEAK))
        assert report.document["pod"]["name"] == leaking and report.document["remediation"]["result"] == "done"

        # quarantined: out of the selector, annotated, still running for inspection
        pod = cluster.pod(leaking)
        assert pod is not None
        labels, annotations = pod["metadata"]["labels"], pod["metadata"]["annotations"]
        assert labels.get("leaksleuth.io/quarantined") == "true" and "app" not in labels
        assert annotations["leaksleuth.io/report"] == str(decision.report_id)
        assert f"main.go:{top['line']}" in annotations["leaksleuth.io/reason"]
        assert "leaksleuth.io/healed-at" in annotations
        assert leaking in cluster.processes
        owner = cluster.deployment("web")["metadata"]["annotations"]
        assert owner["leaksleuth.io/report"] == str(decision.report_id)

        # a replacement runs; the healthy replicas were never touched
        await _until(
            lambda: len([p for p in cluster.live_pods() if p["metadata"]["labels"].get("app") == "web"]) == 4,
            "replacement",
        )
        assert all(cluster.pod_versions(name) == 1 for name in healthy)

        # the Event and the metric
        (event,) = cluster.events()
        assert event["reason"] == "LeakRemediated" and event["involvedObject"]["name"] == leaking
        assert f"main.go:{top['line']}" in event["message"]
        assert _metric(healer, namespace=NAMESPACE, workload="web", action="quarantine", result="done") == 1

        # after --keep the old pod is deleted (and the kubelet stops its process)
        await healer.drain()
        assert cluster.pod(leaking) is None
        await _until(lambda: leaking not in cluster.processes, "the quarantined process to stop")
        history = store.reports(source="heal")
        assert [row.document["result"] for row in history] == ["done"]
