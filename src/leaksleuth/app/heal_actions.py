"""The three remedies of self-healing and the traces each leaves (annotations on the pod and its owner, an Event).

Synchronous: they run in a thread (the Kubernetes client blocks); waits go through the injected ``sleep`` of the
event loop only in :meth:`Actions.run`, which hops back to the loop between eviction attempts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from leaksleuth.app.heal_config import HealConfig
from leaksleuth.app.heal_guards import QUARANTINE_LABEL
from leaksleuth.integrations.kubernetes import Kubernetes, Workload
from leaksleuth.model.verdict import iso_z

HEALED_AT = "leaksleuth.io/healed-at"
REPORT = "leaksleuth.io/report"
REASON = "leaksleuth.io/reason"
DELETE_AFTER = "leaksleuth.io/delete-after"
EVENT_REASON = "LeakRemediated"


def pod_key(pod: Any) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


class Actions:
    def __init__(
        self,
        kube: Kubernetes,
        config: HealConfig,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.kube = kube
        self.config = config
        self.clock = clock
        self.sleep = sleep

    async def run(self, pod: Any, workload: Workload, report_id: int | None, reason: str) -> tuple[str, str]:
        """Do the configured remedy; (result, what happened): done, waiting (the budget said no) or failed."""
        remedy = self.config.remedy
        now = self.clock()
        traces = {HEALED_AT: iso_z(now), REPORT: str(report_id or ""), REASON: reason[:512]}
        if remedy == "quarantine":
            await asyncio.to_thread(self._quarantine, pod, workload, traces, now)
            detail = f"quarantined {pod_key(pod)} (out of its selector; deleted after {self.config.keep:g}s)"
        elif remedy == "evict":
            if not await self._evict(pod, traces):
                attempts = self.config.evict_attempts
                return "waiting", f"eviction of {pod_key(pod)} refused {attempts} times (429: disruption budget)"
            detail = f"evicted {pod_key(pod)}"
        else:
            await asyncio.to_thread(self.kube.rollout_restart, workload, dt.datetime.fromtimestamp(now, dt.UTC))
            detail = f"rollout restart of {workload.kind} {workload.name}"
        await asyncio.to_thread(
            self._trace, pod, workload, traces, f"leaksleuth {detail}: {reason}; report {report_id}"
        )
        return "done", detail

    def _quarantine(self, pod: Any, workload: Workload, traces: dict[str, str], now: float) -> None:
        """Drop the labels the ReplicaSet / StatefulSet (and so usually the Service) select on: the controller
        starts a replacement, traffic drains, and the leaking process stays up for a person to look at."""
        selecting = {**workload.selector, **workload.replica_set_selector}
        labels: dict[str, str | None] = dict.fromkeys(selecting)
        labels[QUARANTINE_LABEL] = "true"
        annotations = {**traces, DELETE_AFTER: iso_z(now + self.config.keep)}
        self.kube.patch_pod(
            pod.metadata.namespace, pod.metadata.name, {"metadata": {"labels": labels, "annotations": annotations}}
        )

    async def _evict(self, pod: Any, traces: dict[str, str]) -> bool:
        namespace, name = pod.metadata.namespace, pod.metadata.name
        await asyncio.to_thread(self.kube.patch_pod, namespace, name, {"metadata": {"annotations": traces}})
        for attempt in range(self.config.evict_attempts):
            if attempt:
                await self.sleep(self.config.evict_retry)  # 429: the PodDisruptionBudget allows none now
            if await asyncio.to_thread(self.kube.evict_pod, namespace, name):
                return True
        return False

    def _trace(self, pod: Any, workload: Workload, traces: dict[str, str], message: str) -> None:
        self.kube.patch_workload(workload, {"metadata": {"annotations": traces}})
        self.kube.create_event(pod, EVENT_REASON, message, dt.datetime.fromtimestamp(self.clock(), dt.UTC))

    def reap(self, namespace: str | None) -> list[str]:
        """Delete quarantined pods past their ``leaksleuth.io/delete-after``; the names deleted."""
        now = iso_z(self.clock())
        deleted = []
        for pod in self.kube.list_pods(namespace, f"{QUARANTINE_LABEL}=true"):
            due = (pod.metadata.annotations or {}).get(DELETE_AFTER)
            if due is not None and due <= now and pod.metadata.deletion_timestamp is None:
                self.kube.delete_pod(pod.metadata.namespace, pod.metadata.name)
                deleted.append(pod_key(pod))
        return deleted
