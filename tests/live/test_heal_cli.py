"""``leaksleuth heal --k8s`` and ``heal history`` as a user runs them, against the KMock harness of real Go pods."""

from __future__ import annotations

import asyncio
import contextlib
import json
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
        assert [(e["pod"], e["trigger"], e["result"]) for e in entries] == [(names[0], "verdict", "dry-run")]
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
