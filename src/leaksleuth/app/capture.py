"""Alert-driven capture, framework-neutral: the FastAPI app in ``web.app`` is a thin adapter over this.

Alertmanager (webhook payload version 4) tells us an instance looks leaky. For each *firing* alert not seen
before (fingerprint + startsAt), the alert's labels are mapped to the instance's pprof base URL with a template
such as ``http://{instance_host}:6060``, a few snapshots are captured (goroutine, goroutineleak, heap with a GC
first, and the runtime series), stored, analysed, and kept as a ``leaksleuth/report@1`` document.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from leaksleuth.app.targeting import KUBERNETES, TargetPolicy, target_url, template_fields
from leaksleuth.app.webhook import MAX_ALERTS, MAX_BODY, Alert, AlertPayloadError, Receipt, parse_webhook
from leaksleuth.errors import ConfigError, LeaksleuthError
from leaksleuth.model.target import Target, make_target
from leaksleuth.store.db import Store
from leaksleuth.store.reports import ReportRow

__all__ = ["KUBERNETES", "AlertPayloadError", "AlertService", "CaptureConfig", "Receipt", "ServiceBusy", "target_url"]


@dataclass(slots=True)
class CaptureConfig:
    template: str = "http://{instance_host}:6060"  # or "kubernetes"
    samples: int = 3  # snapshots per capture: a few are enough for growth evidence
    every: float = 5.0
    timeout: float = 10.0
    concurrency: int = 4  # captures running at once
    kubeconfig: str | None = None
    kubernetes_client: Any = None  # an ApiClient (tests); default: in-cluster or kubeconfig
    policy: TargetPolicy = field(default_factory=TargetPolicy.from_options)  # what an alert may make us fetch
    max_body: int = MAX_BODY  # bytes of one webhook
    max_alerts: int = MAX_ALERTS  # alerts in one webhook
    queue: int = 256  # targets queued or being captured; alerts past it are deferred (429)
    drain_grace: float = 10.0  # seconds running captures may finish in after SIGTERM

    def __post_init__(self) -> None:
        # at startup, not per alert: a bad template would otherwise fail every alert that arrives
        if self.template != KUBERNETES:
            template_fields(self.template)
        if self.samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {self.samples}")
        if not (0 < self.timeout < math.inf):
            raise ConfigError(f"--timeout must be a positive number of seconds, got {self.timeout:g}")
        if not (0 <= self.every < math.inf):
            raise ConfigError(f"--every must not be negative, got {self.every:g}")
        if self.concurrency < 1:
            raise ConfigError(f"capture concurrency must be at least 1, got {self.concurrency}")


@dataclass(slots=True)
class _Job:
    """One capture of one target, for every alert about it that arrived before it finished."""

    url: str
    alerts: list[tuple[int, Alert]] = field(default_factory=list)  # (report id, alert)
    running: bool = False


class ServiceBusy(LeaksleuthError):
    """Serve is stopping: 503, Alertmanager sends the webhook again (to this server restarted, or another)."""


class AlertService:
    """Webhooks in, captures out: claims are made and reports written in threads (the event loop keeps answering);
    captures wait in a bounded queue (``CaptureConfig.queue`` targets; a full queue defers alerts with 429), one
    capture per target however many alerts name it, ``concurrency`` at a time."""

    def __init__(
        self,
        store: Store,
        *,
        token: str | None,
        capture: CaptureConfig | None = None,
        clock: Callable[[], float] = time.time,
        on_report: Callable[[dict[str, str], dict[str, Any], int], Awaitable[Any]] | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.store = store
        self.on_report = on_report  # e.g. app.heal.Healer.on_alert: self-healing after the capture (trigger a)
        self.token = token
        self.capture_config = capture or CaptureConfig()
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}"  # kept in each claim: see recover()
        self._jobs: dict[str, _Job] = {}  # queued or running, by target URL
        self._queue: asyncio.Queue[str] = asyncio.Queue()  # bounded by the check against len(_jobs)
        self._intake = asyncio.Lock()  # no job finishes while a webhook's claims are being made
        self._workers: list[asyncio.Task[None]] = []
        self.draining = False
        self.registry = CollectorRegistry()
        self.alerts_total = Counter(
            "leaksleuth_alerts", "Alerts received, by outcome.", ["outcome"], registry=self.registry
        )
        self.captures_total = Counter(
            "leaksleuth_captures", "Captures finished, by status.", ["status"], registry=self.registry
        )
        self.capture_seconds = Histogram(
            "leaksleuth_capture_duration_seconds",
            "Time to capture and analyse one alert.",
            registry=self.registry,
            buckets=(1, 5, 10, 30, 60, 120, 300),
        )
        self.leak_score = Gauge(
            "leaksleuth_leak_confidence",
            "Highest suspect confidence of the latest capture per target and kind.",
            ["target", "kind", "category"],
            registry=self.registry,
        )
        self.in_flight = Gauge("leaksleuth_captures_in_flight", "Captures running now.", registry=self.registry)
        self.queued = Gauge("leaksleuth_captures_queued", "Targets waiting for a capture.", registry=self.registry)
        self._scored: dict[str, set[tuple[str, str]]] = {}  # target -> (kind, category) series in leak_score

    # ---- requests ------------------------------------------------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        if not self.token:
            return True
        expected = f"Bearer {self.token}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    async def receive(self, payload: Any) -> Receipt:
        """Accept a webhook: queue a capture for each new firing alert. AlertPayloadError for a payload breaking
        the webhook's limits, ServiceBusy while stopping."""
        if self.draining:
            raise ServiceBusy("serve is stopping: send the alerts again")
        receipt = Receipt()
        wanted: list[tuple[str, Alert]] = []
        for alert in parse_webhook(payload, max_alerts=self.capture_config.max_alerts):
            if alert.status == "resolved":
                receipt.resolved += 1
                self.alerts_total.labels("resolved").inc()
                continue
            try:
                wanted.append((target_url(self.capture_config.template, alert.labels), alert))
            except ConfigError as exc:
                receipt.rejected.append(str(exc))
                self.alerts_total.labels("unmapped").inc()
        if wanted:
            self.start()
            async with self._intake:
                fits = self._fitting(wanted)
                receipt.deferred = len(wanted) - len(fits)
                claims = await asyncio.to_thread(self._claim, fits)
                self._queue_claims(claims, receipt)
        self.alerts_total.labels("deferred").inc(receipt.deferred)
        return receipt

    def _fitting(self, wanted: list[tuple[str, Alert]]) -> list[tuple[str, Alert]]:
        """The alerts the queue has room for: one about a target already queued or running always fits."""
        room = self.capture_config.queue - len(self._jobs)
        new: set[str] = set()
        fits = []
        for url, alert in wanted:
            if url not in self._jobs and url not in new:
                if room <= 0:
                    continue
                new.add(url)
                room -= 1
            fits.append((url, alert))
        return fits

    def _claim(self, fits: list[tuple[str, Alert]]) -> list[tuple[int | None, str, Alert]]:
        return [(self.store.claim_report("alert", alert.key(), url, self.owner), url, alert) for url, alert in fits]

    def _queue_claims(self, claims: list[tuple[int | None, str, Alert]], receipt: Receipt) -> None:
        for report_id, url, alert in claims:
            if report_id is None:
                receipt.duplicates += 1
                self.alerts_total.labels("duplicate").inc()
                continue
            self.alerts_total.labels("accepted").inc()
            receipt.accepted.append(report_id)
            job = self._jobs.get(url)
            if job is None:
                job = self._jobs[url] = _Job(url)
                self._queue.put_nowait(url)
                self.queued.inc()
            job.alerts.append((report_id, alert))

    # ---- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """The capture workers (started by the first webhook if not before)."""
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._work()) for _ in range(self.capture_config.concurrency)]

    async def recover(self) -> int:
        """At startup: claims this host's earlier server left ``capturing`` (killed, or stopped with a backlog) are
        failed and their keys freed, so the alert sent again is captured. Returns how many."""

        def orphaned() -> list[int]:
            now = self.clock()
            found = [
                rid for rid, created, owner in self.store.capturing_reports("alert") if _orphan(owner, created, now)
            ]
            self.store.release_reports(
                found, "serve stopped before this capture finished: the alert, sent again, is captured again"
            )
            return found

        return len(await asyncio.to_thread(orphaned))

    async def drain(self) -> None:
        """Wait until every queued capture has finished (tests)."""
        if self._workers:
            await self._queue.join()

    async def close(self, grace: float | None = None) -> None:
        """Stop (SIGTERM): new webhooks get 503; queued captures are released for Alertmanager to send again; the
        running ones get ``grace`` seconds (default ``CaptureConfig.drain_grace``), then are cancelled and
        released too."""
        self.draining = True
        async with self._intake:
            waiting = [job for job in self._jobs.values() if not job.running]
            for job in waiting:
                del self._jobs[job.url]
        await asyncio.to_thread(self._release, waiting, "serve stopped before this capture started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.capture_config.drain_grace if grace is None else grace)
        while self._jobs and loop.time() < deadline:  # bounded: at most the grace period
            await asyncio.sleep(0.05)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def _release(self, jobs: list[_Job], why: str) -> None:
        self.store.release_reports(
            [rid for job in jobs for rid, _ in job.alerts], f"{why}: the alert, sent again, is captured again"
        )

    async def _work(self) -> None:
        while True:
            url = await self._queue.get()
            self.queued.dec()
            try:
                job = self._jobs.get(url)
                if job is not None:  # None: released by close()
                    job.running = True
                    await self._run(job)
            finally:
                self._queue.task_done()

    async def _run(self, job: _Job) -> None:
        started = time.monotonic()
        self.in_flight.inc()
        try:
            document, confidence, url = await self._capture(job.url, job.alerts[0][1].labels)
        except asyncio.CancelledError:  # close(): past the grace period
            self._jobs.pop(job.url, None)
            self._release([job], "serve stopped during this capture")
            raise
        finally:
            self.in_flight.dec()
        async with self._intake:
            self._jobs.pop(job.url, None)  # alerts arriving from now on start a new capture
        status = document["targets"][0]["status"] if document.get("targets") else "error"
        for report_id, alert in job.alerts:
            kept = {**document, "alert": alert.to_json()}
            await asyncio.to_thread(
                self.store.save_report, report_id, kept, confidence, target=url, summary=_thin(kept)
            )
            self.captures_total.labels(status).inc()
            if self.on_report is not None:
                try:
                    await self.on_report(alert.labels, kept, report_id)
                except Exception:  # healing must not take the server down either; it records its own decisions
                    self.alerts_total.labels("heal-failed").inc()
        self.capture_seconds.observe(time.monotonic() - started)
        self.record_scores(url, document)

    # ---- capture -------------------------------------------------------------------------------------------------
    async def _capture(self, url: str, labels: Mapping[str, str]) -> tuple[dict[str, Any], float, str]:
        from leaksleuth.app.watch import Watcher
        from leaksleuth.app.watch_config import WatchConfig
        from leaksleuth.collect.discovery import Discovery
        from leaksleuth.collect.scrape_config import ScrapeConfig

        config = self.capture_config
        try:
            target = await self._resolve(url, labels)
            url = target.url
            checked = await config.policy.check(url)  # after resolving: a pod's address is checked like any other
            # connect to the checked addresses only (a DNS answer that changes now cannot reach a refused one);
            # a name allowed by --allow-host was not resolved: it is not pinned
            pinned = {urlsplit(url).hostname or "": checked} if checked else None
            watcher = Watcher(
                Discovery([target]),
                # the alert chose the target: no redirect leaves its origin, and no body it answers is quoted
                ScrapeConfig(
                    timeout=config.timeout, heap_gc=True, redirects="same-origin", quote_bodies=False, pinned=pinned
                ),
                # the process an alert points at is often sick and slow (heap?gc=1 runs a GC): give each
                # sample the whole --timeout, even past --every, rather than cut it at the interval
                WatchConfig(interval=config.every, max_rounds=config.samples, scrape_deadline=config.timeout),
                store=self.store,
            )
            report = await watcher.run()
            return report.to_json(), report.max_confidence(), url
        except Exception as exc:  # a capture must never take the server down; the report says what happened
            return {"schema": "leaksleuth/report@1", "targets": [], "error": f"{type(exc).__name__}: {exc}"}, 0.0, url

    async def _resolve(self, url: str, labels: Mapping[str, str]) -> Target:
        service = str(labels.get("job") or labels.get("service") or labels.get("container") or "")
        if not url.startswith("k8s://"):
            return make_target(url, service, {})
        from leaksleuth.integrations.kubernetes import pod_target

        namespace, _, pod = url[len("k8s://") :].partition("/")
        config = self.capture_config
        return await asyncio.to_thread(
            pod_target, namespace, pod, kubeconfig=config.kubeconfig, api_client=config.kubernetes_client
        )

    def record_scores(self, url: str, document: dict[str, Any]) -> None:
        """The latest capture of ``url`` replaces its confidence series: kinds it no longer suspects (or a failed
        capture) leave /metrics instead of repeating an old confidence."""
        best: dict[tuple[str, str], float] = {}
        for target in document.get("targets", []):
            for suspect in target.get("suspects", []):
                key = (suspect["kind"], suspect["category"])
                best[key] = max(best.get(key, 0.0), float(suspect["confidence"]))
        for kind, category in self._scored.pop(url, set()) - best.keys():
            self.leak_score.remove(url, kind, category)
        for (kind, category), confidence in best.items():
            self.leak_score.labels(url, kind, category).set(confidence)
        if best:
            self._scored[url] = set(best)

    # ---- reading -------------------------------------------------------------------------------------------------
    def reports(self, limit: int = 100) -> list[dict[str, Any]]:
        return [_summary(row) for row in self.store.report_summaries(limit=limit)]

    def report(self, report_id: int) -> dict[str, Any] | None:
        row = self.store.report(report_id)
        return None if row is None else {**_summary(row), "report": row.document}

    def metrics(self) -> bytes:
        from prometheus_client import generate_latest

        data: bytes = generate_latest(self.registry)
        return data


def _thin(document: dict[str, Any]) -> dict[str, Any]:
    """What ``_summary`` reads of a document, kept beside it so list views never load whole documents."""
    thin: dict[str, Any] = {
        "targets": [{"status": t.get("status"), "error": t.get("error")} for t in document.get("targets", [])],
        "alert": {"labels": {"alertname": document.get("alert", {}).get("labels", {}).get("alertname")}},
    }
    if "error" in document:
        thin["error"] = document["error"]
    return thin


def _summary(row: ReportRow) -> dict[str, Any]:
    capturing = row.document.get("status") == "capturing"
    targets = row.document.get("targets", [])
    failed = "error" in row.document or any(t.get("status") != "ok" for t in targets) or (not capturing and not targets)
    return {
        "id": row.id,
        "created_at": row.created_at,
        "target": row.target,
        "source": row.source,
        "status": "capturing" if capturing else "failed" if failed else "done",
        "error": row.document.get("error") or next((t.get("error") for t in targets if t.get("error")), None),
        "max_confidence": row.max_confidence,
        "alertname": row.document.get("alert", {}).get("labels", {}).get("alertname"),
    }


STALE_CLAIM = 3600.0  # seconds after which another host's claim still capturing is taken for orphaned


def _orphan(owner: str | None, created_at: float, now: float) -> bool:
    """A claim no server is capturing: ours from an earlier process (its pid gone, or ours: pid 1 in a
    restarted container), one without an owner (older versions), or another host's an hour old."""
    host, _, pid = (owner or "").rpartition(":")
    if not owner or not pid.isdigit():
        return True
    if host != socket.gethostname():
        return now - created_at > STALE_CLAIM
    if int(pid) <= 0 or int(pid) == os.getpid():  # os.kill(0, …) would signal our own process group
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False
