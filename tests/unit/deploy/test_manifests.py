"""deploy/: the kustomize base builds, its objects fit together, its args are real serve options, and the rules
and the Alertmanager receiver it ships are exactly what ``leaksleuth rules`` prints (regenerate them with the
commands in ``_GENERATED`` when the rules change)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from leaksleuth.cli.main import app
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
_GENERATED = {
    "prometheusrule.yaml": ["rules", "--format", "prometheus-operator"],
    "alertmanager-receiver.yaml": [
        "rules",
        "--alertmanager",
        "--serve-url",
        "http://leaksleuth.leaksleuth.svc:9477",
        "--token-file",
        "/etc/alertmanager/secrets/leaksleuth-token/token",
    ],
}
KINDS = {
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "StatefulSet",
    "Service",
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
}


def _built() -> list[dict[str, Any]]:
    """``kubectl kustomize deploy`` when kubectl is there; else the resources listed, read one by one."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True)
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    documents = []
    for name in kustomization["resources"]:
        documents += [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return documents


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    documents = _built()
    by_kind = {d["kind"]: d for d in documents}
    assert len(by_kind) == len(documents)  # one of each
    return by_kind


def test_the_base_has_every_kind(objects: dict[str, dict[str, Any]]) -> None:
    assert set(objects) == KINDS
    for kind, document in objects.items():
        assert document["apiVersion"] and document["metadata"]["name"], kind


def test_the_objects_fit_together(objects: dict[str, dict[str, Any]]) -> None:
    namespace = objects["Namespace"]["metadata"]["name"]
    statefulset, service = objects["StatefulSet"], objects["Service"]
    pod = statefulset["spec"]["template"]
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["serviceAccountName"] == objects["ServiceAccount"]["metadata"]["name"]
    binding = objects["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == objects["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "leaksleuth", "namespace": namespace}]
    rules = objects["ClusterRole"]["rules"]
    assert rules == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]  # read-only
    container = pod["spec"]["containers"][0]
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert service["spec"]["ports"][0]["targetPort"] == "http" and port["containerPort"] == 9477
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    monitor = objects["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] == "http" and monitor["endpoints"][0]["path"] == "/metrics"
    token = next(e for e in container["env"] if e["name"] == "LEAKSLEUTH_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "leaksleuth-token", "key": "token"}
    for other in objects.values():
        if other["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert other["metadata"].get("namespace") in (namespace, None), other["kind"]


def test_the_container_args_are_real_serve_options(objects: dict[str, dict[str, Any]]) -> None:
    args = objects["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "serve" and "--watch" in args and "--k8s" in args
    command: Any = typer.main.get_command(app)
    serve = command.commands["serve"]
    context = serve.make_context("serve", list(args[1:]))  # an unknown option or a bad value raises here
    assert context.params["watch"] and context.params["k8s"] and context.params["target_template"] == "kubernetes"


@pytest.mark.parametrize("name", sorted(_GENERATED))
def test_shipped_files_are_what_leaksleuth_rules_prints(name: str) -> None:
    result = CliRunner().invoke(app, _GENERATED[name])
    assert result.exit_code == 0, result.output
    assert (DEPLOY / name).read_text() == result.stdout, f"regenerate: leaksleuth {' '.join(_GENERATED[name])}"


def test_the_prometheus_rule_groups_pass_promtool(tmp_path: Path, objects: dict[str, dict[str, Any]]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(objects["PrometheusRule"]["spec"]))
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
