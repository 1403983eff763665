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
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leaksleuth.app.targeting import KUBERNETES, TargetPolicy, target_url, template_fields
from leaksleuth.errors import ConfigError, LeaksleuthError
from leaksleuth.model.target import Target, make_target
from leaksleuth.store.db import ReportRow, Store

__all__ = ["KUBERNETES", "AlertPayloadError", "AlertService", "CaptureConfig", "Receipt", "target_url"]


class AlertPayloadError(LeaksleuthError):
    """The request body is not an Alertmanager webhook (version 4)."""


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
class Receipt:
    accepted: list[int] = field(default_factory=list)  # report ids being captured
    duplicates: int = 0
    resolved: int = 0
    rejected: list[str] = field(default_factory=list)  # why an alert could not be mapped to a target

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "resolved_ignored": self.resolved,
            "rejected": self.rejected,
        }


def parse_webhook(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise AlertPayloadError("not an Alertmanager webhook: no 'alerts' list")
    version = str(payload.get("version", "4"))
    if version != "4":
        raise AlertPayloadError(f"unsupported Alertmanager webhook version {version!r} (expected 4)")
    alerts = []
    for alert in payload["alerts"]:
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise AlertPayloadError("an alert without labels")
        alerts.append(alert)
    return alerts


class AlertService:
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
        self._slots = asyncio.Semaphore(self.capture_config.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
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
        self._scored: dict[str, set[tuple[str, str]]] = {}  # target -> (kind, category) series in leak_score

    # ---- requests ------------------------------------------------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        if not self.token:
            return True
        expected = f"Bearer {self.token}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    def receive(self, payload: Any) -> Receipt:
        """Accept a webhook: start a capture for each new firing alert (in the background)."""
        receipt = Receipt()
        for alert in parse_webhook(payload):
            if alert.get("status") == "resolved":
                receipt.resolved += 1
                self.alerts_total.labels("resolved").inc()
                continue
            labels = {str(k): str(v) for k, v in alert["labels"].items()}
            try:
                url = target_url(self.capture_config.template, labels)
            except ConfigError as exc:
                receipt.rejected.append(str(exc))
                self.alerts_total.labels("unmapped").inc()
                continue
            key = f"{alert.get('fingerprint') or sorted(labels.items())}@{alert.get('startsAt', '')}"
            report_id = self.store.claim_report("alert", key, url)
            if report_id is None:
                receipt.duplicates += 1
                self.alerts_total.labels("duplicate").inc()
                continue
            self.alerts_total.labels("accepted").inc()
            receipt.accepted.append(report_id)
            task = asyncio.get_running_loop().create_task(self._capture(report_id, url, alert))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return receipt

    async def drain(self) -> None:
        """Wait for captures in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- capture -------------------------------------------------------------------------------------------------
    async def _capture(self, report_id: int, url: str, alert: dict[str, Any]) -> None:
        from leaksleuth.app.watch import WatchConfig, Watcher
        from leaksleuth.collect.discovery import Discovery
        from leaksleuth.collect.scraper import ScrapeConfig

        config = self.capture_config
        labels = alert["labels"]
        started = time.monotonic()
        async with self._slots:
            self.in_flight.inc()
            try:
                target = await self._resolve(url, labels)
                url = target.url
                await config.policy.check(url)  # after resolving: a pod's address is checked like any other
                watcher = Watcher(
                    Discovery([target]),
                    # the alert chose the target: no redirect leaves its origin, and no body it answers is quoted
                    ScrapeConfig(timeout=config.timeout, heap_gc=True, redirects="same-origin", quote_bodies=False),
                    # the process an alert points at is often sick and slow (heap?gc=1 runs a GC): give each
                    # sample the whole --timeout, even past --every, rather than cut it at the interval
                    WatchConfig(interval=config.every, max_rounds=config.samples, scrape_deadline=config.timeout),
                    store=self.store,
                )
                report = await watcher.run()
                document, confidence = report.to_json(), report.max_confidence()
                status = document["targets"][0]["status"] if document["targets"] else "error"
            except Exception as exc:  # a capture must never take the server down; the report says what happened
                document = {"schema": "leaksleuth/report@1", "targets": [], "error": f"{type(exc).__name__}: {exc}"}
                status, confidence = "error", 0.0
            finally:
                self.in_flight.dec()
        document["alert"] = {
            "labels": labels,
            "annotations": alert.get("annotations", {}),
            "startsAt": alert.get("startsAt"),
            "fingerprint": alert.get("fingerprint"),
        }
        self.store.save_report(report_id, document, confidence, target=url)
        self.captures_total.labels(status).inc()
        self.capture_seconds.observe(time.monotonic() - started)
        self.record_scores(url, document)
        if self.on_report is not None:
            try:
                await self.on_report(labels, document, report_id)
            except Exception:  # healing must not take the server down either; it records its own decisions
                self.alerts_total.labels("heal-failed").inc()

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
        return [_summary(row) for row in self.store.reports(limit=limit)]

    def report(self, report_id: int) -> dict[str, Any] | None:
        row = self.store.report(report_id)
        return None if row is None else {**_summary(row), "report": row.document}

    def metrics(self) -> bytes:
        from prometheus_client import generate_latest

        data: bytes = generate_latest(self.registry)
        return data


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
