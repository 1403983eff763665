"""The always-on watch behind ``serve --watch``: the Watcher's rounds turned into verdict-change events.

Each round the whole fleet is judged once; every instance whose verdict word (``model.report.verdict_of``: leaking,
likely leak, watch, healthy, too early, or the scrape status) differs from the last round's is one ``verdict``
event, and every round ends with one ``round`` event. Events go to an optional sink (``--json-lines``: one JSON
object a line for log shippers), to the SSE subscribers of the dashboard (each a bounded queue: a reader that falls
behind is dropped and reconnects, it never makes the server hold more), and the per-target gauges on ``/metrics``
follow the same verdicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leaksleuth.app.membership import Membership, default_member_id
from leaksleuth.model.report import Report, TargetReport
from leaksleuth.model.verdict import iso_z, verdict_of
from leaksleuth.model.views import InstanceFacts

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from leaksleuth.app.watch import Watcher
    from leaksleuth.app.watch_config import RoundSummary

Event = dict[str, Any]
QUEUE_EVENTS = 512  # events one SSE reader may lag behind before it is dropped (a round of a big fleet fits)
MAX_SUBSCRIBERS = 64  # open dashboard tabs at once; more get 503 rather than memory
VERDICT_REFRESH = 60.0  # seconds: an unchanged verdict is written to the store again this often (its "as of")
STORED_SUSPECTS = 5  # the top suspects of a stored verdict (other replicas' pages show them)


@dataclass(slots=True, eq=False)  # hashed by identity: one per reader
class Subscription:
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_EVENTS))
    dropped: bool = False  # fell QUEUE_EVENTS behind: the stream ends, EventSource reconnects and reloads


class EventHub:
    """Fan-out of events to subscribers, each with a bounded queue."""

    def __init__(self, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self.max_subscribers = max_subscribers
        self._subscribers: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscription | None:
        """A new subscription, or None when ``max_subscribers`` are already reading."""
        if len(self._subscribers) >= self.max_subscribers:
            return None
        subscription = Subscription()
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def close(self) -> None:
        """Shutting down: every stream ends at its next event (this one) instead of waiting for a keepalive."""
        for subscription in list(self._subscribers):
            subscription.dropped = True
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait({"event": "closing"})
        self._subscribers.clear()

    def publish(self, event: Event) -> None:
        for subscription in list(self._subscribers):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscription.dropped = True
                self._subscribers.discard(subscription)


class LiveFleet:
    """Runs a Watcher and keeps the fleet's latest verdicts, events and gauges."""

    def __init__(
        self,
        watcher: Watcher,
        registry: CollectorRegistry,
        *,
        sink: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
        membership: Membership | None = None,  # --scale-out: the watcher's targets are this replica's share
    ) -> None:
        from prometheus_client import Counter, Gauge

        self.watcher = watcher
        self.membership = membership
        self.sink = sink
        self.clock = clock
        self.hub = EventHub()
        self.store_error: str | None = None  # the last verdict write that failed (the watch's own writes fail too)
        self.report = Report([])  # the latest round's verdicts
        self.round = 0
        self.round_at: float | None = None
        self.verdicts: dict[str, str] = {}  # url -> verdict word of the latest round
        self._services: dict[str, str] = {}
        self._written: dict[str, float] = {}  # url -> when its verdict was last written to the store
        self._writes: set[asyncio.Future[None]] = set()
        self.member = membership.member if membership else default_member_id()
        self.after_round: Callable[[Report], None] | None = None  # e.g. serve --heal's evaluation of the verdicts
        watcher.on_round = self._on_round
        per_target = ["target", "service"]
        self.confidence = Gauge(
            "leaksleuth_target_confidence",
            "Highest suspect confidence per watched target.",
            per_target,
            registry=registry,
        )
        self.verdict_gauge = Gauge(
            "leaksleuth_target_verdict",
            "1 for the current verdict of each watched target.",
            [*per_target, "verdict"],
            registry=registry,
        )
        self.up = Gauge("leaksleuth_target_up", "1 if the last scrape succeeded.", per_target, registry=registry)
        self.goroutines = Gauge(
            "leaksleuth_target_goroutines", "Goroutines at the last scrape.", per_target, registry=registry
        )
        self.heap_inuse = Gauge(
            "leaksleuth_target_heap_inuse_bytes", "Heap in use at the last scrape.", per_target, registry=registry
        )
        self.members = Gauge(
            "leaksleuth_watch_members", "Replicas dividing the targets (1 without --scale-out).", registry=registry
        )
        self.rounds_total = Counter("leaksleuth_watch_rounds", "Watch rounds completed.", registry=registry)
        self.changes_total = Counter(
            "leaksleuth_verdict_changes", "Verdict changes, by new verdict.", ["verdict"], registry=registry
        )

    async def run(self) -> Report:
        if self.membership is None:
            return await self.watcher.run()
        await asyncio.to_thread(self.membership.beat)  # the first round knows the members
        heartbeats = asyncio.get_running_loop().create_task(self.membership.run())
        try:
            return await self.watcher.run()
        finally:
            heartbeats.cancel()
            await asyncio.gather(heartbeats, return_exceptions=True)

    def stop(self) -> None:
        self.watcher.stop()

    def target(self, url: str) -> TargetReport | None:
        return next((t for t in self.report.targets if t.target == url), None)

    # ---- each round ------------------------------------------------------------------------------------------
    def _on_round(self, summary: RoundSummary) -> None:
        report = self.watcher.report(departed=False)
        self.report, self.round, self.round_at = report, summary.number, summary.started
        now = self.clock()
        to_store = []
        for target in report.targets:
            word = verdict_of(target.status, target.snapshots, target.top_confidence)
            previous = self.verdicts.get(target.target)
            self._gauges(target, word, previous)
            if word != previous:
                self.verdicts[target.target] = word
                self._emit(verdict_event(target, word, previous, summary.number, now))
            if word != previous or now - self._written.get(target.target, 0.0) >= VERDICT_REFRESH:
                self._written[target.target] = now
                to_store.append((target.target, word, target.top_confidence, stored_verdict(target)))
        self._store_verdicts(to_store, now)
        for url in summary.departed:
            self._written.pop(url, None)
            previous = self.verdicts.pop(url, None)
            service = self._services.pop(url, "")
            for gauge in (self.confidence, self.up, self.goroutines, self.heap_inuse):
                _remove(gauge, url, service)
            if previous is not None:
                _remove(self.verdict_gauge, url, service, previous)
                self._emit(_departed_event(url, service, previous, summary.number, self.clock()))
        self.rounds_total.inc()
        self.members.set(len(self.membership.members) if self.membership else 1)
        self._emit(
            {
                "event": "round",
                "time": iso_z(self.clock()),
                "round": summary.number,
                "seconds": round(summary.seconds, 3),
                "targets": len(report.targets),
                "busy": len(summary.busy),
            },
            log=False,  # log shippers want changes, not a heartbeat every interval
        )
        if self.after_round is not None:
            self.after_round(report)

    def _store_verdicts(self, verdicts: list[tuple[str, str, float, dict[str, Any]]], now: float) -> None:
        """In a thread, beside the watch: pages of every replica read them (``app.dashboard``)."""
        store = self.watcher.store
        if store is None or not verdicts:
            return
        write = asyncio.get_running_loop().run_in_executor(None, store.record_verdicts, self.member, now, verdicts)
        self._writes.add(write)
        write.add_done_callback(self._written_done)

    def _written_done(self, write: asyncio.Future[None]) -> None:
        self._writes.discard(write)
        if not write.cancelled() and write.exception() is not None:
            self.store_error = f"{type(write.exception()).__name__}: {write.exception()}"

    def _gauges(self, target: TargetReport, word: str, previous: str | None) -> None:
        facts = target.instance or InstanceFacts()
        service = facts.service
        self._services[target.target] = service
        labels = (target.target, service)
        self.confidence.labels(*labels).set(target.top_confidence)
        self.up.labels(*labels).set(1.0 if target.status == "ok" else 0.0)
        self.goroutines.labels(*labels).set(float(facts.goroutines))
        if facts.heap_inuse_bytes is not None:
            self.heap_inuse.labels(*labels).set(facts.heap_inuse_bytes)
        if previous is not None and previous != word:
            _remove(self.verdict_gauge, *labels, previous)
        self.verdict_gauge.labels(*labels, word).set(1.0)

    def _emit(self, event: Event, *, log: bool = True) -> None:
        if event["event"] == "verdict":
            self.changes_total.labels(event["verdict"]).inc()
        self.hub.publish(event)
        if log and self.sink is not None:
            self.sink(event)


def stored_verdict(target: TargetReport) -> dict[str, Any]:
    """The part of a verdict other replicas show: status, top suspects, the latest numbers (not the history)."""
    facts = target.instance or InstanceFacts()
    return {
        "target": target.target,
        "status": target.status,
        "snapshots": target.snapshots,
        "error": target.error,
        "suspects": [s.to_json() for s in target.ranked()[:STORED_SUSPECTS]],
        "service": facts.service,
        "goroutines": facts.goroutines,
        "heap_inuse_bytes": facts.heap_inuse_bytes,
        "rss_bytes": facts.rss_bytes,
        "restarts": facts.restarts,
    }


def verdict_event(target: TargetReport, word: str, previous: str | None, round_number: int, now: float) -> Event:
    """One verdict change: the new word, the old one (None at first sight) and the top suspect behind it."""
    ranked = target.ranked()
    top = ranked[0] if ranked else None
    facts = target.instance or InstanceFacts()
    return {
        "event": "verdict",
        "time": iso_z(now),
        "round": round_number,
        "target": target.target,
        "service": facts.service,
        "verdict": word,
        "previous": previous,
        "status": target.status,
        "error": target.error,
        "confidence": round(target.top_confidence, 3),
        "kind": top.kind if top else None,
        "category": top.category if top else None,
        "function": top.function if top else None,
        "file": top.file if top else None,
        "line": top.line if top else None,
        "summary": top.summary if top else None,
        "goroutines": facts.goroutines,
        "heap_inuse_bytes": facts.heap_inuse_bytes,
    }


def _departed_event(url: str, service: str, previous: str, round_number: int, now: float) -> Event:
    return {
        "event": "verdict",
        "time": iso_z(now),
        "round": round_number,
        "target": url,
        "service": service,
        "verdict": "departed",
        "previous": previous,
    }


def _remove(gauge: Any, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never set (no heap metric yet)
        gauge.remove(*labels)
