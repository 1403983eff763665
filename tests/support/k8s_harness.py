"""A Deployment whose pods are real Go processes, on KMock's Kubernetes emulator (no apiserver installs here).

Each pod is a ``goleaks`` process on loopback: ``status.podIP`` is 127.0.0.1 and the ``leaksleuth.io/port``
annotation its port. A small controller plays ReplicaSet and kubelet, as far as self-healing needs them:
- ReplicaSet: a pod whose labels leave the selector is released (ownerReferences dropped) and a replacement pod with
  a new process appears; so does one for a deleted pod;
- kubelet: a deleted pod's process is stopped; :meth:`Cluster.oom` kills a process, restarts it in the same pod and
  records ``lastState.terminated.reason: OOMKilled`` through the API as the kubelet does (pod watches hear it).
KMock's list ignores ``labelSelector``; a reaction filters it (equality selectors) as the apiserver would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.support.golive import running

NAMESPACE = "prod"


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


@dataclass
class _ReplicaSet:
    name: str
    uid: str
    deployment: str
    selector: dict[str, str]
    replicas: int
    replacement_mode: str
    pod_annotations: dict[str, str]
    limit: str


@dataclass
class Cluster:
    kmock: Any
    binary: Path
    replica_sets: list[_ReplicaSet] = field(default_factory=list)
    processes: dict[str, contextlib.ExitStack] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=itertools.count)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.pods = self.kmock.resource("v1/pods")
        self.kmock.resources["apps/v1/deployments"] = {}
        self.kmock.resources["apps/v1/replicasets"] = {}
        self.kmock.resources["apps/v1/statefulsets"] = {}
        self.kmock.resources["policy/v1/poddisruptionbudgets"] = {}
        self.kmock.resources["v1/events"] = {}
        self.kmock["list", self.pods] << self._list_pods
        self.api_client = client.ApiClient(client.Configuration(host=str(self.kmock.url).rstrip("/")))

    # ---- the API's view ----------------------------------------------------------------------------------------
    def _list_pods(self, request: Any) -> dict[str, Any]:
        selector = (request.params or {}).get("labelSelector")
        items = [
            obj.raw
            for (resource, namespace, _), obj in self.kmock.objects.items()
            if resource == self.pods
            and not obj.deleted
            and (request.namespace is None or namespace == request.namespace)
            and _matches(obj.raw["metadata"].get("labels") or {}, selector)
        ]
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}

    def pod(self, name: str) -> dict[str, Any] | None:
        key = (self.pods, NAMESPACE, name)
        if key not in self.kmock.objects or self.kmock.objects[key].deleted:
            return None
        raw: dict[str, Any] = self.kmock.objects[key].raw
        return raw

    def pod_versions(self, name: str) -> int:
        return len(list(self.kmock.objects[self.pods, NAMESPACE, name].history))

    def live_pods(self) -> list[dict[str, Any]]:
        return [
            obj.raw for (resource, _, _), obj in self.kmock.objects.items() if resource == self.pods and not obj.deleted
        ]

    def events(self) -> list[dict[str, Any]]:
        events = self.kmock.resource("v1/events")
        return [obj.raw for (resource, _, _), obj in self.kmock.objects.items() if resource == events]

    def deployment(self, name: str) -> dict[str, Any]:
        raw: dict[str, Any] = self.kmock.objects[self.kmock.resource("apps/v1/deployments"), NAMESPACE, name].raw
        return raw

    # ---- building ----------------------------------------------------------------------------------------------
    async def add_deployment(
        self,
        name: str,
        modes: list[str],
        *,
        replacement_mode: str = "worker-pool",
        annotations: dict[str, str] | None = None,
        max_unavailable: str = "25%",
        limit: str = "64Mi",
    ) -> list[str]:
        """A Deployment, its ReplicaSet and one running pod per mode; returns the pod names."""
        deploy_uid, rs_uid, template_hash = str(uuid.uuid4()), str(uuid.uuid4()), "7d9f8c"
        template = {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "goleaks:test"}]},
        }
        self.kmock.objects[self.kmock.resource("apps/v1/deployments"), NAMESPACE, name] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": deploy_uid},
            "spec": {
                "replicas": len(modes),
                "selector": {"matchLabels": {"app": name}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable}},
                "template": template,
            },
        }
        rs_name = f"{name}-{template_hash}"
        selector = {"app": name, "pod-template-hash": template_hash}
        self.kmock.objects[self.kmock.resource("apps/v1/replicasets"), NAMESPACE, rs_name] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": NAMESPACE,
                "uid": rs_uid,
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": deploy_uid, "controller": True}
                ],
            },
            "spec": {"replicas": len(modes), "selector": {"matchLabels": selector}, "template": template},
        }
        pod_annotations = {"leaksleuth.io/scrape": "true", "leaksleuth.io/heal": "true", **(annotations or {})}
        rs = _ReplicaSet(rs_name, rs_uid, name, selector, len(modes), replacement_mode, pod_annotations, limit)
        names = list(await asyncio.gather(*(self._start_pod(rs, mode) for mode in modes)))
        self.replica_sets.append(rs)
        return names

    def add_pdb(self, name: str, app: str, *, min_available: int | str) -> None:
        self.kmock.objects[self.kmock.resource("policy/v1/poddisruptionbudgets"), NAMESPACE, name] = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}},
        }

    async def _start_process(self, mode: str) -> tuple[contextlib.ExitStack, str]:
        stack = contextlib.ExitStack()
        command = [str(self.binary), "-mode", mode, "-addr", "127.0.0.1:0"]
        _, address = await asyncio.to_thread(stack.enter_context, running(command))
        return stack, address.rsplit(":", 1)[1]

    async def _start_pod(self, rs: _ReplicaSet, mode: str) -> str:
        name = f"{rs.name}-{next(self._names):05d}"
        stack, port = await self._start_process(mode)
        self.processes[name], self.modes[name] = stack, mode
        self.kmock.objects[self.pods, NAMESPACE, name] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "uid": str(uuid.uuid4()),
                "labels": dict(rs.selector),
                "annotations": {**rs.pod_annotations, "leaksleuth.io/port": port},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs.name, "uid": rs.uid, "controller": True}
                ],
            },
            "spec": {
                "nodeName": "node-1",
                "containers": [
                    {
                        "name": "app",
                        "image": "goleaks:test",
                        "ports": [{"containerPort": int(port)}],
                        "resources": {"limits": {"memory": rs.limit}},
                    }
                ],
            },
            "status": {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [_container_status(0)],
            },
        }
        return name

    # ---- the controller ----------------------------------------------------------------------------------------
    async def __aenter__(self) -> Cluster:
        self._task = asyncio.get_running_loop().create_task(self._control())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for stack in self.processes.values():
            await asyncio.to_thread(stack.close)
        self.processes.clear()

    async def _control(self) -> None:
        while True:
            await self._reconcile()
            await asyncio.sleep(0.1)

    async def _reconcile(self) -> None:
        live = {pod["metadata"]["name"]: pod for pod in self.live_pods()}
        for name in [n for n in self.processes if n not in live]:  # kubelet: the pod is gone, so is its process
            await asyncio.to_thread(self.processes.pop(name).close)
        for rs in self.replica_sets:
            owned = [p for p in live.values() if _owned_by(p, rs)]
            for pod in owned:
                if not _matches(pod["metadata"].get("labels") or {}, _selector(rs)):
                    self.kmock.objects[self.pods, NAMESPACE, pod["metadata"]["name"]].patch(
                        {"metadata": {"ownerReferences": None}}  # released, as the ReplicaSet controller does
                    )
            matching = [p for p in owned if _matches(p["metadata"].get("labels") or {}, _selector(rs))]
            for _ in range(rs.replicas - len(matching)):
                await self._start_pod(rs, rs.replacement_mode)

    async def oom(self, name: str) -> None:
        """The kubelet's view of an OOM kill: the process dies, the container restarts in the same pod."""
        await asyncio.to_thread(self.processes.pop(name).close)
        stack, port = await self._start_process(self.modes[name])
        self.processes[name] = stack
        restarts = self.pod(name)["status"]["containerStatuses"][0]["restartCount"] + 1  # type: ignore[index]
        status = _container_status(restarts)
        status["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
        patch = {"metadata": {"annotations": {"leaksleuth.io/port": port}}, "status": {"containerStatuses": [status]}}
        # through the API, as the kubelet reports it: watch streams hear the change (a direct edit is silent)
        core = client.CoreV1Api(self.api_client)
        await asyncio.to_thread(core.patch_namespaced_pod, name, NAMESPACE, patch)


def _owned_by(pod: dict[str, Any], rs: _ReplicaSet) -> bool:
    return any(ref["uid"] == rs.uid for ref in pod["metadata"].get("ownerReferences") or [])


def _selector(rs: _ReplicaSet) -> str:
    return ",".join(f"{k}={v}" for k, v in rs.selector.items())


def _container_status(restarts: int) -> dict[str, Any]:
    return {
        "name": "app",
        "ready": True,
        "restartCount": restarts,
        "image": "goleaks:test",
        "imageID": "sha256:0",
        "state": {"running": {}},
    }
