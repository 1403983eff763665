"""Self-healing end to end: a Deployment of real Go processes on KMock's Kubernetes emulator (support/k8s_harness)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import kmock as kmock_module
import pytest

from leaksleuth.app.heal import Healer
from leaksleuth.app.heal_config import HealConfig
from leaksleuth.integrations.kubernetes import Kubernetes
from leaksleuth.store.db import Store, open_store
from tests.support.golive import GO_MODULE, marker_line
from tests.support.k8s_harness import NAMESPACE, Cluster

SOURCE = GO_MODULE / "goleaks" / "main.go"
LEAK = "timeout-send"
HEALTHY = "worker-pool"


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = open_store(str(tmp_path / "store"))
    yield opened
    opened.close()


@attrs.frozen
class TooManyRequests(kmock_module.KubernetesError):
    status: int = 429
    reason: str = "TooManyRequests"
    message: str = "Cannot evict pod as it would violate the pod's disruption budget."


@attrs.frozen
class Forbidden(kmock_module.KubernetesError):
    status: int = 403
    reason: str = "Forbidden"
    message: str = 'pods "x" is forbidden: User "system:serviceaccount:prod:leaksleuth" cannot create resource'


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


# ---- guards ------------------------------------------------------------------------------------------------------

QUICK = {"samples": 2, "every": 1.0}  # a shorter capture: the goroutineleak profile proves this leak at once


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)


def _alert(pod: str) -> dict[str, str]:
    return {"alertname": "GoGoroutineLeak", "namespace": NAMESPACE, "pod": pod}


def _serving(cluster: Cluster, app: str) -> int:
    return sum(1 for p in cluster.live_pods() if p["metadata"]["labels"].get("app") == app)


async def test_rate_limit_one_action_per_minute_with_three_leaking_replicas(
    kmock: Any, goleaks: Path, store: Store
) -> None:
    clock = FakeClock()
    async with Cluster(kmock, goleaks) as cluster:
        modes = [LEAK, LEAK, LEAK, HEALTHY, HEALTHY, HEALTHY]
        original = await cluster.add_deployment("web", modes, replacement_mode=LEAK)
        leaking = original[:3]
        config = HealConfig(action="quarantine", keep=0.0, **QUICK)
        healer = Healer(Kubernetes(cluster.api_client), store, config, clock=clock, sleep=clock.sleep)
        done_at = []
        for pod in leaking:
            first = await healer.on_alert(_alert(pod))
            assert first is not None
            if done_at:  # within the minute of the previous action: refused, and it says until when
                assert first.result == "refused" and "rate limit 1/1m per workload" in first.reason, first
                clock.now = done_at[-1] + 60
                first = await healer.on_alert(_alert(pod))
                assert first is not None
            assert first.result == "done", first
            done_at.append(clock.now)
            await _until(lambda: _serving(cluster, "web") == 6, "the replacement")
            clock.now += 10
        assert [later - earlier for earlier, later in itertools.pairwise(done_at)] == [60, 60]
        assert _metric(healer, namespace=NAMESPACE, workload="web", action="quarantine", result="refused") == 2
        # three actions within the hour: the circuit is open now (the replacements leak too), whatever the rate allows
        clock.now = done_at[-1] + 61
        replacement = next(n for n in cluster.processes if n not in original)
        again = await healer.on_alert(_alert(replacement))
        assert again is not None and again.result == "refused", again
        assert again.reason.startswith("circuit open: 3 actions in 3/1h on Deployment web: next action at ")


async def test_eviction_refused_by_the_budget_waits_and_retries(kmock: Any, goleaks: Path, store: Store) -> None:
    clock = FakeClock()
    async with Cluster(kmock, goleaks) as cluster:
        leaking, *_ = await cluster.add_deployment("api", [LEAK, HEALTHY, HEALTHY])
        cluster.add_pdb("api-pdb", "api", min_available=2)
        evictions: list[float] = []

        def evict(request: Any) -> dict[str, Any]:
            evictions.append(clock.now)
            if len(evictions) < 3:
                raise TooManyRequests()
            kmock.objects[cluster.pods, NAMESPACE, request.name].delete()
            return {"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 201}

        kmock["post", cluster.pods, kmock_module.subresource("eviction")] << evict
        config = HealConfig(action="evict", evict_retry=10.0, **QUICK)
        healer = Healer(Kubernetes(cluster.api_client), store, config, clock=clock, sleep=clock.sleep)
        decision = await healer.on_alert(_alert(leaking))
        assert decision is not None and decision.result == "done", decision
        assert len(evictions) == 3 and clock.slept == [10.0, 10.0]
        assert cluster.pod(leaking) is None
        await _until(lambda: _serving(cluster, "api") == 3, "the replacement")


async def test_a_single_replica_is_left_alone(kmock: Any, goleaks: Path, store: Store) -> None:
    async with Cluster(kmock, goleaks) as cluster:
        (only,) = await cluster.add_deployment("solo", [LEAK])
        decision = await _healer(cluster, store, action="quarantine", **QUICK).on_alert(_alert(only))
        assert decision is not None and decision.result == "refused"
        assert "single replica" in decision.reason
        assert cluster.pod_versions(only) == 1 and not cluster.events()


async def test_dry_run_records_what_it_would_do_and_changes_nothing(kmock: Any, goleaks: Path, store: Store) -> None:
    async with Cluster(kmock, goleaks) as cluster:
        names = await cluster.add_deployment("web", [LEAK, HEALTHY, HEALTHY])
        healer = _healer(cluster, store, **QUICK)  # --action none
        decision = await healer.on_alert(_alert(names[0]))
        assert decision is not None and decision.result == "dry-run"
        assert decision.reason.startswith("would quarantine: alert GoGoroutineLeak: goroutine leak at ")
        assert f"main.go:{marker_line(SOURCE, LEAK)}" in decision.reason
        assert all(cluster.pod_versions(name) == 1 for name in names) and not cluster.events()
        assert "annotations" not in cluster.deployment("web")["metadata"]
        assert _metric(healer, namespace=NAMESPACE, workload="web", action="quarantine", result="dry-run") == 1
        assert [row.document["result"] for row in store.reports(source="heal")] == ["dry-run"]


async def test_an_oom_kill_without_leak_evidence_is_a_sizing_problem_not_a_restart_loop(
    kmock: Any, goleaks: Path, store: Store
) -> None:
    async with Cluster(kmock, goleaks) as cluster:
        names = await cluster.add_deployment("web", [HEALTHY, HEALTHY, HEALTHY])
        await cluster.oom(names[0])
        healer = _healer(cluster, store, action="quarantine", **QUICK)
        first = await healer.check_pods(await asyncio.to_thread(healer.kube.list_pods, NAMESPACE))
        assert [d.result for d in first] == ["refused"]
        assert "OOMKilled, but none of 2 siblings shows a leak: a sizing problem (limit 64 MiB)" in first[0].reason
        assert (
            await healer.check_pods(await asyncio.to_thread(healer.kube.list_pods, NAMESPACE)) == []
        )  # the same kill is not news
        assert [cluster.pod_versions(n) for n in names] == [2, 1, 1]  # only the harness's own OOM record
        assert not cluster.events()


async def test_an_oom_kill_heals_a_sibling_that_leaks(kmock: Any, goleaks: Path, store: Store) -> None:
    async with Cluster(kmock, goleaks) as cluster:
        killed, leaking, healthy = (await cluster.add_deployment("web", [HEALTHY, LEAK, HEALTHY, HEALTHY]))[:3]
        await cluster.oom(killed)
        clock = FakeClock()
        config = HealConfig(action="quarantine", keep=60.0, **QUICK)
        healer = Healer(Kubernetes(cluster.api_client), store, config, clock=clock, sleep=clock.sleep)
        decisions = await healer.check_pods(await asyncio.to_thread(healer.kube.list_pods, NAMESPACE))
        assert [(d.pod, d.result) for d in decisions] == [(leaking, "done")]
        assert "sibling " + killed + " was OOMKilled" in decisions[0].reason
        assert "web" in str(healer.leaking) and cluster.pod_versions(healthy) == 1


async def test_an_oom_kill_is_heard_from_the_pod_watch_not_a_round_later(
    kmock: Any, goleaks: Path, store: Store
) -> None:
    """Trigger (c) from a watch stream: rounds 5 minutes apart, yet the kill after the first round is acted on within
    seconds (a poll would wait for the next round's list)."""
    from leaksleuth.app.heal_loop import LoopConfig, heal_loop

    async with Cluster(kmock, goleaks) as cluster:
        killed, leaking = (await cluster.add_deployment("web", [HEALTHY, LEAK, HEALTHY, HEALTHY]))[:2]
        healer = _healer(cluster, store, action="quarantine", keep=1.0, **QUICK)
        stop, made = asyncio.Event(), []
        config = LoopConfig(NAMESPACE, interval=300.0, timeout=5.0)
        loop = asyncio.get_running_loop().create_task(
            heal_loop(healer, config, api_client=cluster.api_client, on_decision=made.append, stop=stop)
        )
        await _until(lambda: len(store.targets()) == 4, "the first round")
        await asyncio.sleep(1.0)  # its evaluation (one list of the pods) is over
        await cluster.oom(killed)
        await _until(lambda: bool(made), "the OOM kill's decision", timeout=60)
        stop.set()
        await asyncio.wait_for(loop, 60)
        assert [(d.trigger, d.pod, d.result) for d in made] == [("oom", leaking, "done")], made
        assert f"sibling {killed} was OOMKilled" in made[0].reason


async def test_without_a_watch_permission_each_round_polls_for_oom_kills(
    kmock: Any, goleaks: Path, store: Store
) -> None:
    from leaksleuth.app.heal_loop import LoopConfig, heal_loop

    async with Cluster(kmock, goleaks) as cluster:
        kmock["watch", cluster.pods] << Forbidden()
        killed = (await cluster.add_deployment("web", [HEALTHY, HEALTHY, HEALTHY]))[0]
        await cluster.oom(killed)
        notices: list[str] = []
        healer = _healer(cluster, store, action="quarantine", **QUICK)
        config = LoopConfig(NAMESPACE, interval=2.0, rounds=2, timeout=5.0)
        made = await heal_loop(healer, config, api_client=cluster.api_client, on_notice=notices.append)
        assert [(d.trigger, d.pod, d.result) for d in made] == [("oom", killed, "refused")], made
        assert notices == [
            "cannot watch pods in namespace 'prod' (403 Forbidden): OOM kills are read from each round's list of pods "
            "instead"
        ]


async def test_opt_out_and_opt_in(kmock: Any, goleaks: Path, store: Store) -> None:
    async with Cluster(kmock, goleaks) as cluster:
        out = await cluster.add_deployment("out", [LEAK, HEALTHY], annotations={"leaksleuth.io/heal": "false"})
        unmarked = await cluster.add_deployment("plain", [LEAK, HEALTHY], annotations={"leaksleuth.io/heal": ""})
        healer = _healer(cluster, store, action="quarantine", opt_in_namespaces=frozenset({"other"}), **QUICK)
        refused = await healer.on_alert(_alert(out[0]))
        assert refused is not None and refused.result == "refused" and refused.reason.startswith("opted out")
        ignored = await healer.on_alert(_alert(unmarked[0]))
        assert ignored is not None and ignored.reason.startswith("not opted in")
        assert cluster.pod_versions(out[0]) == cluster.pod_versions(unmarked[0]) == 1
        in_namespace = _healer(cluster, store, action="quarantine", opt_in_namespaces=frozenset({NAMESPACE}), **QUICK)
        acted = await in_namespace.on_alert(_alert(unmarked[0]))
        assert acted is not None and acted.result == "done", acted


async def test_a_missing_permission_is_one_clear_error(kmock: Any, goleaks: Path, store: Store) -> None:
    from leaksleuth.errors import ConfigError

    async with Cluster(kmock, goleaks) as cluster:
        leaking, *_ = await cluster.add_deployment("web", [LEAK, HEALTHY, HEALTHY])
        kmock["post", cluster.pods, kmock_module.subresource("eviction")] << Forbidden()
        healer = _healer(cluster, store, action="evict", **QUICK)
        with pytest.raises(ConfigError, match=r"may not create pods/eviction in namespace 'prod' \(403 Forbidden\)"):
            await healer.on_alert(_alert(leaking))


async def test_serve_hands_its_capture_to_the_healer(kmock: Any, goleaks: Path, store: Store) -> None:
    """Trigger (a) through serve: the alert's capture is the evidence (no second capture), its report id on the
    decision."""
    from leaksleuth.app.capture import AlertService, CaptureConfig

    async with Cluster(kmock, goleaks) as cluster:
        leaking, *_ = await cluster.add_deployment("web", [LEAK, HEALTHY, HEALTHY])
        healer = _healer(cluster, store)  # dry run
        capture = CaptureConfig(template="kubernetes", samples=2, every=1.0, kubernetes_client=cluster.api_client)
        service = AlertService(store, token=None, capture=capture, on_report=healer.on_alert)
        labels = {"alertname": "ContainerMemoryLimitForecast", "namespace": NAMESPACE, "pod": leaking}
        receipt = await service.receive({"version": "4", "alerts": [{"status": "firing", "labels": labels}]})
        await service.drain()
        (decision,) = healer.decisions
        assert decision.result == "dry-run" and decision.report_id == receipt.accepted[0]
        assert "alert ContainerMemoryLimitForecast" in decision.reason
        assert [row.source for row in store.reports()].count("heal-capture") == 0


async def test_rollout_restart_only_when_most_pods_leak_at_the_same_line(
    kmock: Any, goleaks: Path, store: Store
) -> None:
    async with Cluster(kmock, goleaks) as cluster:
        most = await cluster.add_deployment("most", [LEAK, LEAK, LEAK, HEALTHY])
        one = await cluster.add_deployment("one", [LEAK, HEALTHY, HEALTHY, HEALTHY])
        healer = _healer(cluster, store, action="rollout-restart", **QUICK)
        refused = await healer.on_alert(_alert(one[0]))
        assert refused is not None and refused.result == "refused"
        assert f"1/4 pods show goroutine leak at {SOURCE}:{marker_line(SOURCE, LEAK)}" in refused.reason
        assert "annotations" not in cluster.deployment("one")["spec"]["template"]["metadata"]
        done = await healer.on_alert(_alert(most[0]))
        assert done is not None and done.result == "done", done
        template = cluster.deployment("most")["spec"]["template"]["metadata"]
        assert "kubectl.kubernetes.io/restartedAt" in template["annotations"]
        assert cluster.deployment("most")["metadata"]["annotations"]["leaksleuth.io/report"] == str(done.report_id)
        assert all(cluster.pod_versions(name) == 1 for name in most)  # the controller replaces them, not we
