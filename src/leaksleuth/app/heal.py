"""Self-healing: capture a leaking pod, analyse it, and only then replace it — guarded, rate-limited, traced.

Triggers: an alert about a pod (:meth:`Healer.on_alert`, from ``serve`` or a test), a watch verdict at or above
``heal_on`` with memory at ``heal_at`` of the container limit (:meth:`Healer.on_verdict`), and pods whose container
was OOM-killed (:meth:`Healer.check_pods`: the evidence died with the container, so its siblings are captured).
Every trigger ends in :meth:`Healer._decide`, which checks the guards in a fixed order and either acts or says why
not. With the default action ``none`` (or ``dry_run``) it records what it would have done and changes nothing.

The clock and the sleep are injected, so the guards' timing is tested with a fake clock; the Kubernetes calls run in
a thread (the official client is synchronous).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TextIO

from leaksleuth.app.heal_actions import Actions, pod_key
from leaksleuth.app.heal_config import HealConfig
from leaksleuth.app.heal_guards import (
    QUARANTINE_LABEL,
    SlidingWindow,
    availability,
    clock_text,
    opted_in,
    rate_text,
    settled,
)
from leaksleuth.app.heal_records import (
    Decision,
    Evidence,
    confidence_of,
    evidence_of,
    memory_limit,
    pod_facts,
    site_of,
    top_suspect,
)
from leaksleuth.errors import FetchError
from leaksleuth.integrations.kubernetes import Kubernetes, Workload, pod_to_target
from leaksleuth.store.db import Store

MAX_REMEMBERED = 10_000  # OOM kills remembered, decisions kept in memory: a long-running healer stays bounded


class Healer:
    def __init__(
        self,
        kube: Kubernetes,
        store: Store,
        config: HealConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        registry: Any = None,
        journal: TextIO | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter

        self.kube = kube
        self.store = store
        self.config = config or HealConfig()
        self.clock = clock
        self.sleep = sleep
        self.journal = journal
        self.registry = registry if registry is not None else CollectorRegistry()
        self.remediations = Counter(
            "leaksleuth_remediations",
            "Self-healing decisions, by workload, action and result (done, dry-run, refused, waiting, failed).",
            ["namespace", "workload", "action", "result"],
            registry=self.registry,
        )
        self.actions = Actions(kube, self.config, clock=clock, sleep=sleep)
        self.per_workload = SlidingWindow(self.config.rate)
        self.everywhere = SlidingWindow(self.config.global_cap)
        self.circuit = SlidingWindow(self.config.breaker)
        self.in_flight: dict[str, float] = {}  # workload -> when its action started
        self.leaking: dict[str, float] = {}  # workloads marked leaking by an OOM kill -> when
        self.decisions: deque[Decision] = deque(maxlen=MAX_REMEMBERED)  # this process's, newest last
        # (pod uid, container, restart count) of the OOM kills already handled; insertion-ordered, the oldest dropped
        self._seen_ooms: dict[tuple[str, str, int], None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- triggers --------------------------------------------------------------------------------------------------
    async def on_alert(
        self, labels: Mapping[str, str], report: dict[str, Any] | None = None, report_id: int | None = None
    ) -> Decision | None:
        """Trigger (a): an alert naming ``namespace`` and ``pod``; ``report`` (and its stored ``report_id``) is
        serve's capture of it, if serve made one; else the healer captures first."""
        namespace, name = labels.get("namespace"), labels.get("pod")
        if not namespace or not name:
            return None
        pod = await asyncio.to_thread(self.kube.read_pod, namespace, name)
        evidence = evidence_of(report, report_id) if report is not None else await self.capture(pod)
        return await self._decide("alert", pod, evidence, f"alert {labels.get('alertname', '?')}")

    async def on_verdict(self, namespace: str, name: str, verdict: Mapping[str, Any]) -> Decision | None:
        """Trigger (b): a watch verdict at ``heal_on`` with memory at ``heal_at`` of the container limit."""
        confidence = max((float(s["confidence"]) for s in verdict.get("suspects", [])), default=0.0)
        if confidence < self.config.heal_on or self._decided_lately(f"{namespace}/{name}"):
            return None  # one decision per pod per rate period, not a fresh capture every round
        pod = await asyncio.to_thread(self.kube.read_pod, namespace, name)
        memory = verdict.get("rss_bytes") or verdict.get("heap_inuse_bytes")
        limit = memory_limit(pod)
        if memory is None or limit is None or memory < self.config.heal_at * limit:
            return None  # leaking, but far from the limit: the watch keeps an eye on it
        evidence = await self.capture(pod)
        share = f"{memory / limit:.0%} of its {limit / 2**20:.0f} MiB limit"
        return await self._decide("verdict", pod, evidence, f"leak verdict {confidence:.2f} at {share}")

    async def check_pods(self, pods: list[Any]) -> list[Decision]:
        """Trigger (c): a container OOM-killed since we last looked. Its evidence died with it: capture its running
        siblings, mark the workload leaking, heal the siblings that leak; none leaking means a sizing problem."""
        decisions = []
        for pod in pods:
            for status in (pod.status.container_statuses or ()) if pod.status else ():
                terminated = status.last_state.terminated if status.last_state else None
                seen = (pod.metadata.uid or pod.metadata.name, status.name, status.restart_count or 0)
                if terminated is None or terminated.reason != "OOMKilled" or seen in self._seen_ooms:
                    continue
                self._seen_ooms[seen] = None
                if len(self._seen_ooms) > MAX_REMEMBERED:
                    del self._seen_ooms[next(iter(self._seen_ooms))]
                decisions.extend(await self._after_oom(pod, status.name))
        return decisions

    async def _after_oom(self, pod: Any, container: str) -> list[Decision]:
        workload = await asyncio.to_thread(self.kube.workload_of, pod)
        namespace, name = pod.metadata.namespace, pod.metadata.name
        if workload is None:
            return [self._record("oom", pod, None, None, "refused", f"container {container} OOMKilled; no controller")]
        self.leaking[workload.key] = self.clock()
        siblings = [
            p
            for p in await asyncio.to_thread(self.kube.list_pods, namespace, workload.label_selector)
            if p.metadata.name != name and pod_to_target(p, require_annotation=False) is not None
        ]
        captured = await asyncio.gather(*(self.capture(p) for p in siblings))
        leaking = [(p, e) for p, e in zip(siblings, captured, strict=True) if self._leak_named(e)]
        if not leaking:
            limit = memory_limit(pod)
            size = f" (limit {limit / 2**20:.0f} MiB)" if limit else ""
            why = (
                f"container {container} OOMKilled, but none of {len(siblings)} siblings shows a leak: "
                f"a sizing problem{size}, not restarting"
            )
            return [self._record("oom", pod, workload, None, "refused", why)]
        because = f"sibling {name} was OOMKilled"
        return [await self._decide("oom", p, evidence, because) for p, evidence in leaking]

    # ---- capture ---------------------------------------------------------------------------------------------------
    async def capture(self, pod: Any) -> Evidence:
        """Capture first: goroutines, goroutineleak, heap with a GC first and /metrics, a few samples, stored and
        analysed exactly as serve captures an alert; the report carries the pod's namespace, node, owner, limit and
        image. The one place self-healing uses the watcher."""
        from leaksleuth.app.watch import Watcher
        from leaksleuth.app.watch_config import WatchConfig
        from leaksleuth.collect.discovery import Discovery
        from leaksleuth.collect.scrape_config import ScrapeConfig

        config = self.config
        target = pod_to_target(pod, require_annotation=False)
        if target is None:
            raise FetchError(f"pod {pod_key(pod)} is not running with an IP: nothing to capture")
        key = f"heal:{pod_key(pod)}@{self.clock():.6f}:{uuid.uuid4().hex}"  # a fake clock repeats itself
        report_id = await asyncio.to_thread(self.store.claim_report, "heal-capture", key, target.url)
        watcher = Watcher(
            Discovery([target]),
            ScrapeConfig(timeout=config.timeout, heap_gc=True),
            WatchConfig(interval=config.every, max_rounds=config.samples, scrape_deadline=config.timeout),
            store=self.store,
        )
        document = (await watcher.run()).to_json()
        document["pod"] = pod_facts(pod)
        if report_id is not None:
            top = document["targets"][0]["suspects"][0]["confidence"] if top_suspect(document) else 0.0
            await asyncio.to_thread(self.store.save_report, report_id, document, top)
        return evidence_of(document, report_id)

    def _decided_lately(self, key: str) -> bool:
        since = self.clock() - self.config.rate[1]
        return any(d.at > since and f"{d.namespace}/{d.pod}" == key for d in reversed(self.decisions))

    def _leak_named(self, evidence: Evidence) -> bool:
        return evidence.suspect is not None and float(evidence.suspect["confidence"]) >= self.config.heal_on

    # ---- the decision ----------------------------------------------------------------------------------------------
    async def _decide(self, trigger: str, pod: Any, evidence: Evidence, because: str) -> Decision:
        """The guards in order (cheap and local first), then the action and its traces."""
        config = self.config
        refuse = self._refusal_before_owner(pod, evidence)
        if refuse is not None:
            return self._record(trigger, pod, None, evidence, "refused", refuse)
        workload = await asyncio.to_thread(self.kube.workload_of, pod)
        if workload is None:
            return self._record(trigger, pod, None, evidence, "refused", "no Deployment or StatefulSet replaces it")
        if workload.replicas <= 1 and not config.allow_single:
            why = f"{workload.kind} {workload.name} has a single replica (--allow-single to act anyway)"
            return self._record(trigger, pod, workload, evidence, "refused", why)
        async with self._locks.setdefault(workload.key, asyncio.Lock()):
            pods = await asyncio.to_thread(self.kube.list_pods, workload.namespace, workload.label_selector)
            refuse = self._refusal_by_clock(workload, pods)
            if refuse is None and config.remedy != "rollout-restart":
                budgets = await asyncio.to_thread(self.kube.disruption_budgets, workload.namespace)
                refuse = availability(workload, pod, pods, budgets)
            if refuse is None and config.remedy == "rollout-restart":
                refuse = await self._refusal_for_restart(pod, workload, pods, evidence)
            if refuse is not None:
                return self._record(trigger, pod, workload, evidence, "refused", refuse)
            now = self.clock()
            for window, key in (
                (self.per_workload, workload.key),
                (self.everywhere, "*"),
                (self.circuit, workload.key),
            ):
                window.record(key, now)
            reason = f"{because}: {site_of(evidence.suspect)}"
            if config.simulated:
                return self._record(trigger, pod, workload, evidence, "dry-run", f"would {config.remedy}: {reason}")
            self.in_flight[workload.key] = now
            result, detail = await self.actions.run(pod, workload, evidence.report_id, reason)
            if result != "done":
                del self.in_flight[workload.key]
            decision = self._record(trigger, pod, workload, evidence, result, f"{detail}: {reason}")
        if result == "done" and config.remedy == "quarantine":
            self._spawn(self._reap_later())
        return decision

    def _refusal_before_owner(self, pod: Any, evidence: Evidence) -> str | None:
        metadata = pod.metadata
        if (metadata.labels or {}).get(QUARANTINE_LABEL) == "true":
            return "already quarantined"
        refusal = opted_in(metadata.annotations or {}, metadata.namespace, self.config.opt_in_namespaces)
        if refusal is not None:
            return refusal
        if not self._leak_named(evidence):
            top = float(evidence.suspect["confidence"]) if evidence.suspect else 0.0
            return (
                f"no leak evidence (top suspect {top:.2f} < --heal-on {self.config.heal_on:g}): "
                "a sizing problem or a false alarm is not fixed by a restart"
            )
        return None

    def _refusal_by_clock(self, workload: Workload, pods: list[Any]) -> str | None:
        now, config = self.clock(), self.config
        started = self.in_flight.get(workload.key)
        if started is not None:
            if settled(workload, pods) or now - started >= config.in_flight_timeout:
                del self.in_flight[workload.key]
            else:
                return f"another action on {workload.kind} {workload.name} is in flight since {clock_text(started)}"
        checks = (
            (self.circuit, workload.key, f"circuit open: {config.breaker[0]} actions in {rate_text(config.breaker)}"),
            (self.per_workload, workload.key, f"rate limit {rate_text(config.rate)} per workload"),
            (self.everywhere, "*", f"global cap {rate_text(config.global_cap)}"),
        )
        for window, key, what in checks:
            until = window.next_allowed(key, now)
            if until is not None:
                return f"{what} on {workload.kind} {workload.name}: next action at {clock_text(until)}"
        return None

    async def _refusal_for_restart(
        self, pod: Any, workload: Workload, pods: list[Any], evidence: Evidence
    ) -> str | None:
        """A rollout restart replaces every pod: only when most pods of the workload leak at the same site."""
        site = site_of(evidence.suspect)
        others = [
            p
            for p in pods
            if p.metadata.name != pod.metadata.name and pod_to_target(p, require_annotation=False) is not None
        ]
        captured = await asyncio.gather(*(self.capture(p) for p in others))
        agreeing = 1 + sum(1 for e in captured if self._leak_named(e) and site_of(e.suspect) == site)
        if agreeing * 2 > workload.replicas:
            return None
        return f"rollout-restart needs most pods leaking at one site: {agreeing}/{workload.replicas} pods show {site}"

    # ---- quarantine's end ------------------------------------------------------------------------------------------
    async def _reap_later(self) -> None:
        await self.sleep(self.config.keep)
        await self.reap()

    async def reap(self, namespace: str | None = None) -> list[str]:
        """Delete quarantined pods whose ``--keep`` is over (also after a restart of leaksleuth: the deadline is an
        annotation on the pod)."""
        return await asyncio.to_thread(self.actions.reap, namespace)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- traces ----------------------------------------------------------------------------------------------------
    def _record(
        self,
        trigger: str,
        pod: Any,
        workload: Workload | None,
        evidence: Evidence | None,
        result: str,
        reason: str,
    ) -> Decision:
        """Every decision: the JSON-lines journal, the store (``heal history``), the capture's report, /metrics."""
        decision = Decision(
            self.clock(),
            trigger,
            pod.metadata.namespace,
            pod.metadata.name,
            self.config.remedy,
            result,
            reason,
            workload.key if workload else None,
            evidence.report_id if evidence else None,
            evidence.suspect if evidence else None,
        )
        self.decisions.append(decision)
        entry = decision.to_json()
        if self.journal is not None:
            self.journal.write(json.dumps(entry, sort_keys=True) + "\n")
            self.journal.flush()
        history_id = self.store.claim_report("heal", f"heal:{pod_key(pod)}@{decision.at:.6f}:{uuid.uuid4().hex}", "")
        if history_id is not None:
            self.store.save_report(history_id, entry, 0.0, target=pod_key(pod))
        if evidence is not None and evidence.report_id is not None:
            self.store.save_report(
                evidence.report_id, {**evidence.document, "remediation": entry}, confidence_of(evidence)
            )
        workload_name = workload.name if workload else ""
        self.remediations.labels(decision.namespace, workload_name, decision.action, result).inc()
        return decision
