"""The guards of self-healing, pure and clock-free: callers pass ``now`` (tests drive them with a fake clock).

Each guard answers ``None`` (go ahead) or the reason it says no, in words an on-call engineer reads in an Event or
a log line at 3 a.m.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leaksleuth.durations import format_duration, parse_duration
from leaksleuth.errors import ConfigError
from leaksleuth.integrations.kubernetes import Workload, pod_ready, scaled, selects

HEAL_ANNOTATION = "leaksleuth.io/heal"
QUARANTINE_LABEL = "leaksleuth.io/quarantined"
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0}
_RATE_UNITS |= {"hour": 3600.0, "d": 86400.0, "day": 86400.0}


def parse_rate(text: str, option: str = "--rate") -> tuple[int, float]:
    """``1/min``, ``3/h``, ``2/10m`` -> (actions, seconds)."""
    count, slash, per = text.strip().partition("/")
    if not slash or not count.strip().isdigit() or int(count) < 1:
        raise ConfigError(f"{option} wants N/PERIOD, got {text!r}", hint="e.g. 1/min, 3/h, 2/10m")
    per = per.strip()
    try:
        seconds = _RATE_UNITS.get(per) if re.fullmatch(r"[a-z]+", per) else parse_duration(per)
    except ConfigError:
        seconds = None
    if seconds is None or seconds <= 0:
        raise ConfigError(f"{option}: {per!r} is not a period", hint="e.g. 1/min, 3/h, 2/10m")
    return int(count), seconds


def rate_text(rate: tuple[int, float]) -> str:
    return f"{rate[0]}/{format_duration(rate[1])}"


def clock_text(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%H:%M:%SZ")


@dataclass(slots=True)
class SlidingWindow:
    """At most ``rate[0]`` events per ``rate[1]`` seconds for each key (a workload, or ``*`` for all of them)."""

    rate: tuple[int, float]
    _events: dict[str, deque[float]] = field(default_factory=dict)

    def next_allowed(self, key: str, now: float) -> float | None:
        """None when an event may happen now; else the moment the oldest event in the window expires."""
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.rate[1]:
            events.popleft()
        return None if len(events) < self.rate[0] else events[0] + self.rate[1]

    def record(self, key: str, now: float) -> None:
        self._events.setdefault(key, deque(maxlen=self.rate[0])).append(now)


def opted_in(pod_annotations: Mapping[str, str], namespace: str, namespaces: Iterable[str]) -> str | None:
    """Opt-in per namespace (``--opt-in-namespace``) or by pod annotation ``leaksleuth.io/heal: "true"``;
    ``"false"`` always opts out. None: healing allowed; else why not."""
    value = str(pod_annotations.get(HEAL_ANNOTATION, "")).strip().lower()
    if value == "false":
        return f'opted out: annotation {HEAL_ANNOTATION}: "false"'
    if value == "true" or namespace in set(namespaces):
        return None
    return f'not opted in: annotate the pod template {HEAL_ANNOTATION}: "true" or pass --opt-in-namespace {namespace}'


def required_ready(workload: Workload, pod_labels: Mapping[str, str], budgets: Iterable[Any]) -> tuple[int, str]:
    """How many pods of the workload must stay ready, and where that number comes from.

    A PodDisruptionBudget that selects the pod wins (minAvailable, or replicas - maxUnavailable; percentages round
    up as the disruption controller rounds them); else the controller's own rollout budget (maxUnavailable, at
    least 1)."""
    for budget in budgets:
        spec = budget.spec
        if spec is None or not selects(spec.selector, pod_labels):
            continue
        name = f"PodDisruptionBudget {budget.metadata.name}"
        minimum = scaled(spec.min_available, workload.replicas, round_up=True)
        if minimum is not None:
            return minimum, f"{name} minAvailable {spec.min_available}"
        unavailable = scaled(spec.max_unavailable, workload.replicas, round_up=True)
        if unavailable is not None:
            return workload.replicas - unavailable, f"{name} maxUnavailable {spec.max_unavailable}"
    # without a budget: the controller's own maxUnavailable, but at least the one pod being replaced (25% of 3 rounds
    # down to 0, and a Deployment rolls out with a surge then; replacing one pod must stay possible)
    unavailable = max(workload.max_unavailable, 1)
    return workload.replicas - unavailable, f"{workload.kind} maxUnavailable {workload.max_unavailable}, at least 1"


def availability(workload: Workload, target: Any, pods: Iterable[Any], budgets: Iterable[Any]) -> str | None:
    """None when taking ``target`` out leaves enough ready pods; else how many would remain and how many must."""
    ready = [p for p in pods if pod_ready(p) and (p.metadata.labels or {}).get(QUARANTINE_LABEL) != "true"]
    remaining = sum(1 for p in ready if p.metadata.name != target.metadata.name)
    needed, source = required_ready(workload, target.metadata.labels or {}, budgets)
    if remaining >= max(needed, 1):
        return None
    return f"would leave {remaining} of {workload.replicas} ready, {max(needed, 1)} must stay ready ({source})"


def settled(workload: Workload, pods: Iterable[Any]) -> bool:
    """The workload is whole again: as many ready pods (quarantined ones aside) as it wants replicas."""
    ready = sum(1 for p in pods if pod_ready(p) and (p.metadata.labels or {}).get(QUARANTINE_LABEL) != "true")
    return ready >= workload.replicas
