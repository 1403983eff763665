"""One process or the next? Every signal a round of one instance gives, judged together.

A restarted process begins again from nothing, so a trend fitted across a restart sees a drop (or a fake rise):
every history of an instance (goroutine counts, heap sites, runtime series) must be cut at the same round. One
``RestartDetector`` per instance decides that from all the signals at once:

* the process start time moved (``process_start_seconds``, by more than a second: it is read with jitter);
* a lifetime counter went down: ``num_gc`` and ``total_alloc`` from the metrics, ``alloc_space`` and
  ``alloc_objects`` totals of the heap profile (they only grow within one process);
* the heap profile changed shape (other sample types), or another build id (another binary);
* goroutine ids went down (the runtime hands them out in increasing order for the life of a process). The weakest
  signal: the highest id *present* also falls within one process when its newest goroutines exit (a server's
  connection goroutines), so it only counts in a round that carries none of the others (dump files, a target
  without metrics between two heap profiles).

Once a restart is declared, what the round did not say is forgotten: a heap profile or a build id that arrives a
round later is compared with the new process, not the old one, so one restart is counted once.

Series of a whole fleet read from Prometheus have no such rounds; they flag restarts per series with the same
primitive, ``started_over``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leaksleuth.model.profile import Profile

PROCESS_START = "process_start_seconds"
COUNTERS = ("num_gc", "total_alloc")  # metrics that count for the life of a process: a decrease is a restart
HEAP_LIFETIME_TYPES = ("alloc_space", "alloc_objects")  # heap profile sample types that do the same


def started_over(name: str, previous: float, value: float) -> bool:
    """Between two readings of series ``name``, a new process began: its start time moved (by more than a second),
    or a lifetime counter went down."""
    if name == PROCESS_START:
        return abs(value - previous) > 1.0
    return name in COUNTERS and value < previous


@dataclass(frozen=True, slots=True)
class HeapLifetime:
    """What tells one process of a binary from the next in its heap profile: the sample types, their lifetime
    allocation totals and the build id."""

    sample_types: tuple[str, ...]
    totals: tuple[int, ...]
    build_id: str = ""

    @classmethod
    def of(cls, profile: Profile) -> HeapLifetime:
        build = profile.mappings[0].build_id if profile.mappings else ""
        return cls(tuple(t.type for t in profile.sample_types), tuple(profile.totals()), build)

    def new_process_since(self, before: HeapLifetime) -> str | None:
        """Why this profile is of another process than ``before``, or None."""
        if self.sample_types != before.sample_types:
            return "the heap profile changed shape"
        if self.build_id != before.build_id:
            return "another build id"
        for index, name in enumerate(self.sample_types):
            if name in HEAP_LIFETIME_TYPES and self.totals[index] < before.totals[index]:
                return f"heap {name} went down"
        return None


@dataclass(frozen=True, slots=True)
class Signals:
    """What one round says about the process that answered (each part None / empty when not fetched)."""

    values: Mapping[str, float] = field(default_factory=dict)  # runtime series: process start, lifetime counters
    build_id: str | None = None
    heap: HeapLifetime | None = None
    max_goroutine_id: int | None = None


class RestartDetector:
    """Feed it every round of one instance, in order; it says whether a new process started since the last one.

    Each signal is compared with the last round that had it (a heap profile fetched every third round is compared
    with the previous heap profile), except the metrics counters: with the previous round's values only, as a
    counter missing from a round says nothing."""

    def __init__(self) -> None:
        self.process_start: float | None = None
        self.build_id: str | None = None
        self._counters: dict[str, float] = {}
        self._heap: HeapLifetime | None = None
        self._max_goroutine_id: int | None = None

    def observe(self, signals: Signals) -> tuple[str, ...]:
        """The reasons to think the process restarted since the last round (empty: the same process)."""
        reasons = self._strong(signals)
        current = signals.max_goroutine_id
        strong_signal = signals.heap is not None or any(n in signals.values for n in (PROCESS_START, *COUNTERS))
        if current is not None:
            went_down = self._max_goroutine_id is not None and current < self._max_goroutine_id
            if went_down and not strong_signal:
                reasons.append("goroutine ids went down")
            self._max_goroutine_id = current
        if reasons:  # a new process: what this round did not say belongs to the old one
            self._heap = signals.heap
            self.build_id = signals.build_id or None
            self._max_goroutine_id = current
            if PROCESS_START not in signals.values:
                self.process_start = None
        return tuple(dict.fromkeys(reasons))

    def _strong(self, signals: Signals) -> list[str]:
        reasons: list[str] = []
        start = signals.values.get(PROCESS_START)
        if start is not None:
            if self.process_start is not None and started_over(PROCESS_START, self.process_start, start):
                reasons.append("the process start time moved")
            self.process_start = start
        for counter in COUNTERS:
            previous, value = self._counters.get(counter), signals.values.get(counter)
            if previous is not None and value is not None and started_over(counter, previous, value):
                reasons.append(f"{counter} went down")
        self._counters = {name: signals.values[name] for name in COUNTERS if name in signals.values}
        if signals.build_id:
            if self.build_id is not None and signals.build_id != self.build_id:
                reasons.append("another build id")
            self.build_id = signals.build_id
        if signals.heap is not None:
            if self._heap is not None and (why := signals.heap.new_process_since(self._heap)) is not None:
                reasons.append(why)
            self._heap = signals.heap
        return reasons
