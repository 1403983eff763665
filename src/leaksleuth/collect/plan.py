"""The adaptive scrape plan: what to fetch from one target this round beyond the goroutine profile, and why.

Watching must cost the watched service little (issue 17). The goroutine profile (proto) is cheap and is fetched
every round: it gives the count and the stacks that growth is judged on. The rest costs the target:

- ``goroutineleak`` runs an extra GC cycle in the target to find unreachable blocked goroutines: fetched on the
  first round, whenever growth is suspected (the count rose by ``growth``, or by ``relative_growth`` of it when that
  is more, over its recent minimum: a busy service's request goroutines come and go by more than 5; or the last
  leak profile proved more leaked goroutines than the one before), and otherwise only every ``leak_every`` rounds:
  leaks that are proven and stay put are not proven again every round (a GC cycle and a debug=2 dump each time);
- a debug=2 dump stops the world while it formats every stack: only on suspicion, and only under the scraper's
  ``debug2_threshold`` goroutines (otherwise the leak profile's proto stands in for it);
- ``heap?gc=1`` forces a full collection: asked only while the live heap is known to be under ``big_heap`` (the
  first heap profile is taken without it, to learn the size);
- when the goroutine profile takes ``slow_factor`` times its usual time (and ``slow_floor`` more), the target is
  struggling: only the goroutine profile for a while, the pause doubling up to ``max_backoff`` rounds while it
  stays slow, halving once it is not.

Every choice is said in ``Plan.reasons``; the watcher reports them per target. Pure and clock-free: the caller
passes the seconds the goroutine profile took, so the plan is tested without a network or a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

LeakFetch = Literal["dump", "proto"]
HeapFetch = Literal["gc", "plain"]


@dataclass(frozen=True, slots=True)
class PlanConfig:
    leak_every: int = 6  # rounds between goroutineleak fetches while nothing grows (1: every round)
    big_heap: float = 256 * 2**20  # bytes of live heap over which heap?gc=1 is never asked
    growth: int = 5  # goroutines over the recent minimum that make growth suspected
    relative_growth: float = 0.01  # ... or this share of that minimum, when it is more
    recent: int = 6  # rounds that minimum is taken over
    slow_factor: float = 3.0  # the goroutine profile took this many times its usual: back off
    slow_floor: float = 0.25  # ... and this many seconds more than usual (the collector's own busy loop, loopback
    # jitter and a GC in the target add tens of milliseconds: not a struggling target)
    max_backoff: int = 8  # rounds of the goroutine profile alone, at most, after the target turned slow


@dataclass(slots=True)
class Plan:
    leak: LeakFetch | None  # goroutineleak?debug=2, goroutineleak (proto), or neither
    heap: HeapFetch | None  # heap?gc=1, heap, or neither
    reasons: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TargetPlanner:
    """The plan's memory of one target."""

    config: PlanConfig = field(default_factory=PlanConfig)
    rounds: int = 0
    counts: deque[int] = field(init=False)
    usual: float | None = None  # seconds the goroutine profile usually takes (a slowly rising minimum)
    backoff: int = 0  # the current pause length
    resting: int = 0  # rounds of that pause still to go
    heap_bytes: float | None = None  # the last live heap seen
    leaked: int | None = None  # the most goroutines a leak profile proved leaked (they stay leaked: a high mark, so a
    # proto and a dump that count a few apart do not look like a rise)
    leak_rising: bool = False  # the last leak profile proved more than that (the first proof counts as more)

    def __post_init__(self) -> None:
        self.counts = deque(maxlen=max(1, self.config.recent))

    def plan(self, total: int, seconds: float, *, debug2_threshold: int, heap_due: bool, heap_gc: bool) -> Plan:
        """This round's fetches, given the goroutine count just fetched and how long that fetch took."""
        config = self.config
        first = self.rounds == 0
        floor = min(self.counts) if self.counts else total
        self.rounds += 1
        self.counts.append(total)
        if self._slow(seconds):
            return Plan(None, None, [self._pause(seconds)])
        if self.resting:
            self.resting -= 1
            return Plan(None, None, [f"backing off: the target was slow (this round and {self.resting} more)"])
        self.backoff //= 2
        reasons: list[str] = []
        growing = total >= floor + max(config.growth, int(floor * config.relative_growth)) and not first
        suspected = first or growing or self.leak_rising
        why = (
            "first round"
            if first
            else f"goroutines {floor} -> {total}"
            if growing
            else f"proven leaked goroutines rose to {self.leaked}"
        )
        leak: LeakFetch | None = None
        if suspected:
            leak = "dump" if total <= debug2_threshold else "proto"
            reasons.append(f"goroutineleak {'debug=2' if leak == 'dump' else 'proto'}: {why}")
            if leak == "proto":
                reasons.append(f"no debug=2: {total} goroutines, over {debug2_threshold}")
        elif (self.rounds - 1) % max(1, config.leak_every) == 0:
            leak = "proto"
            reasons.append(f"goroutineleak proto: every {config.leak_every} rounds, {self._steady()}")
        else:
            reasons.append(f"no goroutineleak: {self._steady()}")
        return Plan(leak, self._heap(heap_due, heap_gc, reasons), reasons)

    def saw(self, *, heap_bytes: float | None = None, leaked: int | None = None) -> None:
        """What this round's fetches told: the live heap, goroutines the leak profile proved leaked."""
        if heap_bytes is not None:
            self.heap_bytes = heap_bytes
        if leaked is not None:
            self.leak_rising = leaked > (self.leaked or 0)
            self.leaked = max(leaked, self.leaked or 0)

    def _steady(self) -> str:
        return f"{self.leaked} proven leaked, not rising" if self.leaked else "nothing grows"

    def _slow(self, seconds: float) -> bool:
        usual = self.usual
        if usual is None or seconds < usual:
            self.usual = seconds
            return False
        self.usual = usual + (seconds - usual) * 0.05  # drifts up slowly: a target may grow, a spike may not teach
        return seconds >= usual * self.config.slow_factor and seconds >= usual + self.config.slow_floor

    def _pause(self, seconds: float) -> str:
        self.backoff = min(self.config.max_backoff, max(1, self.backoff * 2))
        self.resting = self.backoff
        usual = self.usual or 0.0
        return (
            f"target slow: goroutine profile took {seconds * 1000:.0f} ms (usually {usual * 1000:.0f} ms): "
            f"only the goroutine profile for {self.backoff + 1} rounds"
        )

    def _heap(self, due: bool, gc: bool, reasons: list[str]) -> HeapFetch | None:
        if not due:
            return None
        if not gc:
            return "plain"
        if self.heap_bytes is None:
            reasons.append("heap without gc=1: live heap size not known yet")
            return "plain"
        if self.heap_bytes > self.config.big_heap:
            reasons.append(
                f"heap without gc=1: {self.heap_bytes / 2**20:.0f} MiB live, over {self.config.big_heap / 2**20:.0f}"
            )
            return "plain"
        reasons.append(f"heap?gc=1: {self.heap_bytes / 2**20:.0f} MiB live, under {self.config.big_heap / 2**20:.0f}")
        return "gc"
