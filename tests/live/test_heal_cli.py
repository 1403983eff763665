"""``leaksleuth heal --k8s`` and ``heal history`` as a user runs them, against the KMock harness of real Go pods."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path
from typing import Any

import attrs
import httpx
import kmock as kmock_module
import pytest
import yaml

from leaksleuth.cli.main import main
from tests.conftest import ROOT
from tests.support.golive import GO_MODULE, marker_line
from tests.support.k8s_harness import NAMESPACE, Cluster
from tests.support.prometheus_live import free_port

SOURCE = GO_MODULE / "goleaks" / "main.go"


def _kubeconfig(kmock: Any, tmp_path: Path) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": str(kmock.url).rstrip("/")}}],
        "users": [{"name": "leaksleuth", "user": {"token": "t"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "leaksleuth"}}],
        "current-context": "kmock",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


async def test_heal_dry_run_acts_on_a_watch_verdict_near_the_limit_and_history_shows_it(
    kmock: Any, goleaks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with Cluster(kmock, goleaks) as cluster:
        # a limit the Go processes' RSS is already near: trigger (b) needs memory at --heal-at of the limit
        names = await cluster.add_deployment("web", ["timeout-send", "worker-pool", "worker-pool"], limit="6Mi")
        store, journal, port = str(tmp_path / "store"), tmp_path / "heal.jsonl", free_port()
        argv = ["heal", "--k8s", "--kubeconfig", _kubeconfig(kmock, tmp_path), "--namespace", NAMESPACE]
        argv += ["--interval", "2s", "--rounds", "5", "--samples", "2", "--every", "1s", "--heal-at", "0.5"]
        argv += ["--metrics-listen", f"127.0.0.1:{port}", "--store", store, "--journal", str(journal)]
        running = asyncio.get_running_loop().run_in_executor(None, main, argv)
        metric = (
            'leaksleuth_remediations_total{action="quarantine",namespace="prod",result="dry-run",workload="web"} 1.0'
        )
        async with httpx.AsyncClient() as http:
            for _ in range(300):  # the dry run decides within a few rounds; /metrics says so while heal runs
                with contextlib.suppress(httpx.HTTPError):
                    if metric in (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=2)).text:
                        break
                assert not running.done(), capsys.readouterr().err
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("no remediation on /metrics")
        assert await running == 0, capsys.readouterr().err
        entries = [json.loads(line) for line in journal.read_text().splitlines()]
        assert [(e["event"], e["pod"], e["trigger"], e["result"]) for e in entries] == [
            ("heal", names[0], "verdict", "dry-run")
        ]
        assert f"main.go:{marker_line(SOURCE, 'timeout-send')}" in entries[0]["reason"]
        assert all(cluster.pod_versions(name) == 1 for name in names) and not cluster.events()
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["heal", "history", "--store", store, "--json"]) == 0
        (line,) = capsys.readouterr().out.splitlines()
        assert json.loads(line) == entries[0]


@attrs.frozen
class Forbidden(kmock_module.KubernetesError):
    status: int = 403
    reason: str = "Forbidden"
    message: str = 'pods is forbidden: User "system:serviceaccount:prod:leaksleuth" cannot list resource "pods"'


async def test_heal_without_rbac_says_which_permission_is_missing(
    kmock: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kmock["list", kmock.resource("v1/pods")] << Forbidden()
    argv = ["heal", "--k8s", "--kubeconfig", _kubeconfig(kmock, tmp_path), "--namespace", NAMESPACE, "--rounds", "1"]
    code = await asyncio.to_thread(main, [*argv, "--interval", "1s", "--store", str(tmp_path / "s")])
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == [
        "leaksleuth: error: Kubernetes RBAC: this service account may not list pods in namespace 'prod' "
        "(403 Forbidden)",
        "  hint: grant it with deploy/rbac/heal.yaml (kubectl apply -f deploy/rbac/heal.yaml)",
    ]


def test_the_rbac_manifest_grants_what_healing_calls() -> None:
    """Every (verb, resource) kubernetes_call names in the client, and the OOM trigger's pod watch, is granted by
    deploy/rbac/heal.yaml."""
    import re

    from leaksleuth.integrations.kubernetes_watch import PERMISSION

    source = (ROOT / "src/leaksleuth/integrations/kubernetes.py").read_text()
    called = set(re.findall(r'kubernetes_call\(\s*"(\w+)",\s*"([\w/.]+)"', source)) | {PERMISSION}
    (role,) = [d for d in yaml.safe_load_all((ROOT / "deploy/rbac/heal.yaml").read_text()) if d["kind"] == "Role"]
    granted = {
        (verb, f"{resource}.{group}" if group else resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert called and called <= granted, called - granted


async def test_serve_heal_quarantines_on_an_alert_and_hears_an_oom_kill(
    kmock: Any, goleaks: Path, tmp_path: Path
) -> None:
    """``serve --heal`` as deployed: an alert about a leaking pod -> serve's capture -> quarantine; then an OOM kill
    reaches it through the pod watch; both on the Captures & actions page and /metrics."""
    import sys

    async with Cluster(kmock, goleaks) as cluster:
        leaking, healthy, _ = await cluster.add_deployment("web", ["timeout-send", "worker-pool", "worker-pool"])
        port = free_port()
        argv = [sys.executable, "-m", "leaksleuth", "serve", "--listen", f"127.0.0.1:{port}", "--no-auth"]
        argv += ["--store", str(tmp_path / "store"), "--target-template", "kubernetes"]
        argv += ["--kubeconfig", _kubeconfig(kmock, tmp_path), "--namespace", NAMESPACE, "--samples", "2"]
        argv += ["--every", "1s", "--heal", "--action", "quarantine", "--keep", "1m"]
        serve = await asyncio.create_subprocess_exec(*argv, stderr=asyncio.subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=5) as http:
                await _until_async(lambda: _answers(http, "/healthz"), serve)
                alert = {"status": "firing", "labels": {"alertname": "GoGoroutineLeak", "namespace": NAMESPACE}}
                alert["labels"]["pod"] = leaking
                posted = await http.post("/alerts", json={"version": "4", "alerts": [alert]})
                assert posted.status_code == 202, posted.text
                await _until_async(lambda: _quarantined(cluster, leaking), serve)
                await cluster.oom(healthy)
                await _until_async(lambda: _page_has(http, "/captures", 'data-result="refused"'), serve)
                page = (await http.get("/captures")).text
                metrics = (await http.get("/metrics")).text
        finally:
            serve.terminate()
            _, err = await asyncio.wait_for(serve.communicate(), 30)
    rows = re.findall(r'<tr class="heal-action" data-result="(\w[\w-]*)">(.*?)</tr>', page, re.DOTALL)
    assert [result for result, _ in rows] == ["refused", "done"], err.decode()  # newest first
    assert f"prod/{healthy}" in rows[0][1] and "OOMKilled, but none of" in rows[0][1]
    assert f"prod/{leaking}" in rows[1][1] and f"main.go:{marker_line(SOURCE, 'timeout-send')}" in rows[1][1]
    done = 'leaksleuth_remediations_total{action="quarantine",namespace="prod",result="done",workload="web"} 1.0'
    assert done in metrics


async def test_serve_watch_heal_acts_on_a_round_s_verdict_near_the_limit(
    kmock: Any, goleaks: Path, tmp_path: Path
) -> None:
    """Trigger (b) inside the service: ``serve --watch --k8s --heal`` (a dry run) decides on a watch verdict."""
    import sys

    async with Cluster(kmock, goleaks) as cluster:
        names = await cluster.add_deployment("web", ["timeout-send", "worker-pool", "worker-pool"], limit="6Mi")
        port = free_port()
        argv = [sys.executable, "-m", "leaksleuth", "serve", "--listen", f"127.0.0.1:{port}", "--no-auth"]
        argv += ["--store", str(tmp_path / "store"), "--kubeconfig", _kubeconfig(kmock, tmp_path)]
        argv += ["--watch", "--k8s", "--namespace", NAMESPACE, "--interval", "2s", "--samples", "2", "--every", "1s"]
        argv += ["--heal", "--heal-at", "0.5", "--json-lines"]
        serve = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
                await _until_async(lambda: _answers(http, "/healthz"), serve)
                await _until_async(lambda: _page_has(http, "/captures", 'data-result="dry-run"'), serve, 90)
        finally:
            serve.terminate()
            out, err = await asyncio.wait_for(serve.communicate(), 30)
    decisions = [json.loads(line) for line in out.decode().splitlines() if '"trigger"' in line]
    assert [(d["pod"], d["trigger"], d["result"]) for d in decisions] == [(names[0], "verdict", "dry-run")], err
    assert all(cluster.pod_versions(name) == 1 for name in names) and not cluster.events()


async def _until_async(condition: Any, process: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert process.returncode is None, "serve exited"
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def _answers(http: httpx.AsyncClient, path: str) -> bool:
    try:
        return (await http.get(path)).status_code == 200
    except httpx.TransportError:
        return False


async def _page_has(http: httpx.AsyncClient, path: str, text: str) -> bool:
    return text in (await http.get(path)).text


async def _quarantined(cluster: Cluster, pod: str) -> bool:
    found = cluster.pod(pod)
    return found is not None and found["metadata"]["labels"].get("leaksleuth.io/quarantined") == "true"
