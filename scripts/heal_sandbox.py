"""Try self-healing without a cluster: the tests' Kubernetes harness as a sandbox you can point leaksleuth at.

KMock's Kubernetes emulator on loopback, with a Deployment ``checkout`` in namespace ``prod`` whose pods are real Go
processes (``testdata/go/goleaks``: one leaks goroutines, three are healthy), and a small controller that replaces
a quarantined or deleted pod as a ReplicaSet would. It writes a kubeconfig and prints the commands to run in another
shell; Ctrl-C stops everything (the pods' processes too).

    .venv/bin/python scripts/heal_sandbox.py [--dir /tmp/leaksleuth-sandbox] [--limit 12Mi]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support: the harness the tests use, one definition

from tests.conftest import go_binary  # noqa: E402
from tests.support.golive import build  # noqa: E402
from tests.support.k8s_harness import NAMESPACE, Cluster  # noqa: E402


def kubeconfig(url: str, path: Path) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "leaksleuth", "user": {"token": "sandbox"}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "leaksleuth"}}],
        "current-context": "sandbox",
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def sandbox(work: Path, limit: str) -> None:
    import kmock

    binary = build(go_binary(), "goleaks", work)
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator), Cluster(emulator, binary) as cluster:
        pods = await cluster.add_deployment(
            "checkout", ["timeout-send", "worker-pool", "worker-pool", "worker-pool"], limit=limit
        )
        config = kubeconfig(str(emulator.url).rstrip("/"), work / "kubeconfig")
        print(f"sandbox: Deployment checkout in namespace {NAMESPACE}, pods {', '.join(pods)}", flush=True)
        print(f"  {pods[0]} leaks goroutines; memory limit {limit} per pod", flush=True)
        print(f"  kubeconfig: {config}\n\ntry, in another shell:", flush=True)
        print(
            f"  leaksleuth heal --k8s --kubeconfig {config} --namespace {NAMESPACE} --interval 10s --rounds 3 "
            f"--heal-at 0.5 --store {work / 'store'} --journal {work / 'heal.jsonl'}",
            flush=True,
        )
        print(f"  leaksleuth heal history --store {work / 'store'}\n\nCtrl-C stops the sandbox.", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="where the kubeconfig, store and journal go (default: a temp dir)")
    parser.add_argument("--limit", default="12Mi", help="each pod's memory limit (trigger b wants memory near it)")
    arguments = parser.parse_args()
    work = arguments.dir or Path(tempfile.mkdtemp(prefix="leaksleuth-sandbox-"))
    work.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(sandbox(work, arguments.limit))


if __name__ == "__main__":
    main()
