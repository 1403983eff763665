"""Goroutine buckets: group goroutines that are stuck in the same place, from any goroutine source.

Sources differ in what they carry: a debug=2 dump has states, wait minutes, creators and parent ids but hides
runtime frames; a proto / debug=1 profile has counts and runtime frames but no states. Both become a
``GoroutineSnapshot`` of ``Bucket``s whose key is stable across formats, replicas and redeploys: function names and
file base names of the frames below the runtime's parking plumbing (line numbers move with every deploy). At the
strict similarity levels (exact, any-pointer) the key also holds the lines, the creator and the arguments, so
goroutines that differ there stay apart in every view (table, JSON, diff, verdict).
"""

from __future__ import annotations

import enum
import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leaksleuth.analysis.goroutines.labels import LabelSet
from leaksleuth.analysis.goroutines.states import BLOCKING_CLASSES, blocking_frame, classify_state
from leaksleuth.analysis.restarts import RestartDetector, Signals
from leaksleuth.analysis.ring import RingColumns
from leaksleuth.analysis.segments import last_segment
from leaksleuth.analysis.symbols import is_runtime, is_stdlib, normalize_function
from leaksleuth.model.goroutines import Frame

__all__ = ["BLOCKING_CLASSES", "Bucket", "GoroutineSnapshot", "History", "Similarity", "Window", "classify_state"]

if TYPE_CHECKING:
    pass


class Similarity(enum.StrEnum):
    """How alike two goroutines must be to share a bucket (panicparse's levels)."""

    EXACT = "exact"  # same frames, lines and argument values
    ANY_POINTER = "any-pointer"  # same frames and lines; pointer-looking arguments may differ
    ANY_VALUE = "any-value"  # same frames and lines; arguments ignored (the default)


def strip_plumbing(frames: tuple[Frame, ...]) -> tuple[Frame, ...]:
    """Drop the runtime's parking frames at the top and ``runtime.goexit`` at the bottom (protos show them)."""
    start = 0
    while start < len(frames) - 1 and is_runtime(frames[start].function):
        start += 1
    end = len(frames)
    while end > start + 1 and frames[end - 1].function in ("runtime.goexit", "runtime.main"):
        end -= 1
    return frames[start:end]


_SERVER_CONN = "net/http.(*conn).serve"


KEY_FRAMES = 16  # deep stacks are cut differently by dumps (elided middle) and protos (outermost dropped)


def stable_key(frames: Iterable[Frame]) -> str:
    """Function names + file base names of the innermost frames: lines up across replicas and redeploys."""
    return "|".join(f"{normalize_function(f.function)}@{f.file_base}" for f in list(frames)[:KEY_FRAMES])


# ---- buckets -----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Bucket:
    """Goroutines parked in the same place (at the chosen similarity)."""

    key: str  # stable key (functions + file base names); at the strict levels also lines, creator, arguments
    frames: tuple[Frame, ...]  # representative stack, runtime plumbing stripped, innermost first
    count: int = 0
    states: Counter[str] = field(default_factory=Counter)
    state_class: str = "unknown"
    wait_min: int | None = None  # minutes, from debug=2 headers
    wait_max: int | None = None
    leaked: int = 0  # proven leaked by the runtime (goroutineleak profile or "(leaked)")
    created_by: Frame | None = None
    parents: Counter[int] = field(default_factory=Counter)
    goroutine_ids: list[int] = field(default_factory=list)  # a few, for the report
    calls: str = ""  # strict levels: the blocking frame and its callers in user code, with the arguments compared
    # a goroutine running library code only (net/http's persistConn loops): the user-code frame that started it,
    # from its creator chain (created by, [originating from] ancestors, the parent goroutine's stack), if any.
    # Go prints ancestor frames at their return address, so there the line can be the one after the call
    origin: Frame | None = None
    labels: Counter[LabelSet] = field(default_factory=Counter)  # pprof label sets of its goroutines, bounded

    @property
    def blocking(self) -> Frame | None:
        return blocking_frame(self.frames)

    @property
    def serves_connection(self) -> bool:
        """net/http serves each open connection on a goroutine of its own: these follow the load."""
        return any(f.function == _SERVER_CONN for f in self.frames)

    @property
    def connection_plumbing(self) -> bool:
        """A connection goroutine parked in net/http itself (idle keep-alive, reading the next request): one per
        open connection by design. A connection goroutine whose blocking frame is user code is a handler that is
        stuck (a lock, a channel, a WaitGroup): that is not how net/http serves, it is the handler's bug."""
        if not self.serves_connection:
            return False
        blocking = self.blocking
        return blocking is None or is_stdlib(blocking.function)

    def add_state(self, state: str, wait: int | None, count: int = 1) -> None:
        self.count += count
        if state:
            self.states[state] += count
        if wait is not None:
            self.wait_min = wait if self.wait_min is None else min(self.wait_min, wait)
            self.wait_max = wait if self.wait_max is None else max(self.wait_max, wait)


@dataclass(slots=True)
class GoroutineSnapshot:
    """All buckets of one instance at one moment."""

    taken_at: float
    total: int
    buckets: dict[str, Bucket]
    source_format: str  # "debug2", "proto", "debug1"
    has_states: bool  # states and wait times known (debug=2)
    has_leak_profile: bool = False
    max_goroutine_id: int | None = None  # for restart detection: ids only grow within one process
    truncated: bool = False  # the dump ended inside a goroutine: counts are a lower bound

    def by_count(self) -> list[Bucket]:
        return sorted(self.buckets.values(), key=lambda b: (-b.count, b.key))


@dataclass(slots=True)
class History:
    """One stable bucket key across the snapshots of an instance."""

    key: str
    latest: Bucket
    counts: list[int]
    times: list[float]


class Window:
    """The recent history of one instance, kept incrementally and column-wise: per stable key a count per snapshot
    (int32: a process cannot hold 2**31 goroutines), plus the latest bucket seen for it. Holding counts instead of
    whole snapshots keeps a long watch of a big fleet small; bucket keys are interned, so every instance running the
    same code shares them.

    Restarts are the caller's to tell (``add(restarted=True)`` or ``start_over()`` before the next snapshot): a
    ``RestartDetector`` sees them from every signal at once. ``Window.of`` runs one over the snapshots it is given.
    """

    def __init__(self, max_snapshots: int = 120) -> None:
        self.max_snapshots = max_snapshots
        # load: open server connections (net/http's one goroutine each), a proxy for load
        self._rows = RingColumns[str](max_snapshots, {"time": "d", "load": "q", "restart": "b"})
        self.latest: dict[str, Bucket] = {}
        self._starting_over = False

    @classmethod
    def of(cls, snapshots: Sequence[GoroutineSnapshot]) -> Window:
        window = cls(max(len(snapshots), 1))
        detector = RestartDetector()
        for snapshot in snapshots:
            restarted = detector.observe(Signals(max_goroutine_id=snapshot.max_goroutine_id))
            window.add(snapshot, restarted=bool(restarted))
        return window

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def counts(self) -> dict[str, array[int]]:
        return self._rows.columns  # keyed columns of int32 (or int64) arrays

    @property
    def times(self) -> list[float]:
        return self._rows.values("time").tolist()

    @property
    def load(self) -> list[int]:
        return [int(count) for count in self._rows.values("load")]

    @property
    def restarts(self) -> list[bool]:
        """Per snapshot: the first of a new process (never the oldest kept: nothing before it to cut from)."""
        return [bool(flag) and position > 0 for position, flag in enumerate(self._rows.values("restart"))]

    def start_over(self) -> None:
        """The process restarted: the next snapshot begins a new segment."""
        self._starting_over = True

    def add(self, snapshot: GoroutineSnapshot, *, restarted: bool = False) -> None:
        """Append a snapshot (``restarted``: the first of a new process)."""
        restarted, self._starting_over = restarted or self._starting_over, False
        counts: dict[str, int] = {}
        largest: dict[str, Bucket] = {}
        load = 0
        for bucket in snapshot.buckets.values():
            key = bucket.key = sys.intern(bucket.key)
            counts[key] = counts.get(key, 0) + bucket.count
            load += bucket.count if bucket.serves_connection else 0
            if bucket.count and (key not in largest or bucket.count > largest[key].count):
                largest[key] = bucket
        for key, bucket in largest.items():
            earlier = self.latest.get(key)
            if bucket.origin is None and earlier is not None and earlier.origin is not None and not restarted:
                bucket.origin = earlier.origin  # a proto round above the debug=2 threshold does not show creators
        self.latest.update(largest)
        row = {"time": snapshot.taken_at, "load": load, "restart": restarted and len(self) > 0}
        for key in self._rows.append(row, counts):
            del self.latest[key]

    def last_segment(self) -> int:
        """Index where the newest process' snapshots start."""
        return last_segment(self.times, self.restarts)

    def histories(self) -> list[History]:
        times = self.times
        return [History(key, self.latest[key], list(counts), times) for key, counts in self.counts.items()]


def histories(snapshots: Sequence[GoroutineSnapshot]) -> list[History]:
    """Align buckets by stable key; a key absent from a snapshot counts 0 there."""
    return Window.of(snapshots).histories()
