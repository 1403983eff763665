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
import hashlib
import itertools
import re
import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leaksleuth.analysis.goroutines.labels import LabelSet, add_labels
from leaksleuth.analysis.goroutines.states import BLOCKING_CLASSES, classify_state
from leaksleuth.analysis.restarts import RestartDetector, Signals
from leaksleuth.analysis.ring import RingColumns
from leaksleuth.analysis.segments import last_segment
from leaksleuth.analysis.symbols import is_runtime, is_stdlib, location_frames, normalize_function
from leaksleuth.model.goroutines import Frame, Goroutine, GoroutineDump, Stack

__all__ = ["BLOCKING_CLASSES", "Bucket", "GoroutineSnapshot", "History", "Similarity", "Window", "classify_state"]

if TYPE_CHECKING:
    from leaksleuth.model.profile import Profile

_POINTER = re.compile(r"0x[0-9a-f]{6,}\??")  # "0xc000012345?": ? marks a value the runtime is unsure of


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


# packages that only carry a blocked goroutine to its parking spot: never "the line to fix"
_PLUMBING_TOP = frozenset({"runtime", "internal", "sync", "syscall", "os", "io", "bufio", "time", "context"})
_SERVER_CONN = "net/http.(*conn).serve"


def blocking_frame(frames: tuple[Frame, ...]) -> Frame | None:
    """The first frame in user code (the line to fix); for stdlib-only stacks (net/http's connection loops), the
    first frame above the generic plumbing (runtime, sync, io, net's file descriptors…)."""
    for frame in frames:
        if not is_stdlib(frame.function):
            return frame
    for frame in frames:
        package = frame.package
        if package != "net" and package.split("/", 1)[0] not in _PLUMBING_TOP:
            return frame
    return frames[0] if frames else None


_KEY_FRAMES = 16  # deep stacks are cut differently by dumps (elided middle) and protos (outermost dropped)


def stable_key(frames: Iterable[Frame]) -> str:
    """Function names + file base names of the innermost frames: lines up across replicas and redeploys."""
    return "|".join(f"{normalize_function(f.function)}@{f.file_base}" for f in list(frames)[:_KEY_FRAMES])


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


_MAX_IDS = 5


def _args_key(goroutine: Goroutine, similarity: Similarity) -> str:
    if similarity is Similarity.ANY_VALUE:
        return ""
    text = goroutine.call_text
    return text if similarity is Similarity.EXACT else _POINTER.sub("0x?", text)


def strict_key(frames: Sequence[Frame], created_by: Frame | None) -> str:
    """The key at the strict levels, before arguments: functions, file base names and lines, and the creator."""
    key = "|".join(f"{normalize_function(f.function)}@{f.file_base}:{f.line}" for f in frames[:_KEY_FRAMES])
    if created_by is not None:
        key += f"<{normalize_function(created_by.function)}@{created_by.file_base}:{created_by.line}"
    return key


def _with_args(key: str, args_key: str) -> str:
    """A digest of the arguments (printed in full they would make keys of kilobytes)."""
    return key + "#" + hashlib.blake2b(args_key.encode(), digest_size=4).hexdigest() if args_key else key


_SHOWN_CALLS = 3


def _shown_calls(stack: Stack, blocking: Frame | None) -> tuple[int, ...]:
    """Positions in ``stack.frames`` of the blocking frame and the next user-code callers: where the strict levels'
    arguments are shown."""
    if blocking is None:
        return ()
    start = next((i for i, frame in enumerate(stack.frames) if frame is blocking), len(stack.frames))
    user = (i for i in range(start, len(stack.frames)) if not is_stdlib(stack.frames[i].function))
    return tuple(itertools.islice(user, _SHOWN_CALLS))


def _calls(goroutine: Goroutine, positions: tuple[int, ...], similarity: Similarity) -> str:
    """``main.sender.func1({0xac9ee8?, 0x?}) <- main.sender(0x1)``: those frames as printed (pointers as ``0x?`` at
    any-pointer), so rows the strict levels keep apart show why."""
    lines = goroutine.call_text.split("\n") if goroutine.call_text else []
    calls = [lines[i] for i in positions if i < len(lines)]
    text = " <- ".join(calls)
    return text if similarity is Similarity.EXACT else _POINTER.sub("0x?", text)


def snapshot_from_dump(
    dump: GoroutineDump, *, taken_at: float = 0.0, similarity: Similarity = Similarity.ANY_VALUE
) -> GoroutineSnapshot:
    """Bucket a debug=2 dump. Goroutines sharing an interned ``Stack`` are grouped in one pass."""
    per_stack: dict[tuple[Stack, str], list[Goroutine]] = {}
    for goroutine in dump.goroutines:
        per_stack.setdefault((goroutine.stack, _args_key(goroutine, similarity)), []).append(goroutine)
    buckets: dict[str, Bucket] = {}
    per_stack_keys: dict[Stack, tuple[tuple[Frame, ...], str, str, tuple[int, ...]]] = {}
    goroutines_by_id: dict[int, Goroutine] = {}  # filled the first time a parent is looked up
    strict = similarity is not Similarity.ANY_VALUE
    for (stack, args_key), members in per_stack.items():
        cached = per_stack_keys.get(stack)
        if cached is None:
            frames = strip_plumbing(stack.frames)
            lines_key = "|".join(f"{f.function}@{f.file}:{f.line}" for f in frames)
            if stack.created_by is not None:
                lines_key += f"<{stack.created_by.function}@{stack.created_by.file}:{stack.created_by.line}"
            if strict:
                key, shown = strict_key(frames, stack.created_by), _shown_calls(stack, blocking_frame(frames))
            else:
                key, shown = stable_key(frames), ()
            cached = per_stack_keys[stack] = (frames, lines_key, key, shown)
        frames, lines_key, key, shown = cached
        identity = lines_key + ("#" + args_key if args_key else "")
        bucket = buckets.get(identity)
        if bucket is None:
            bucket = buckets[identity] = Bucket(_with_args(key, args_key), frames, created_by=stack.created_by)
            if strict:
                bucket.calls = _calls(members[0], shown, similarity)
            if not any(_user_frame(f) for f in frames):
                bucket.origin = _origin(members, dump, goroutines_by_id)
        for goroutine in members:
            bucket.add_state(goroutine.state, goroutine.wait_minutes)
            bucket.leaked += goroutine.leaked
            add_labels(bucket.labels, goroutine.labels)
            if goroutine.parent_id is not None:
                bucket.parents[goroutine.parent_id] += 1
            if len(bucket.goroutine_ids) < _MAX_IDS:
                bucket.goroutine_ids.append(goroutine.id)
    for bucket in buckets.values():
        dominant = bucket.states.most_common(1)[0][0] if bucket.states else ""
        bucket.state_class = classify_state(dominant, bucket.frames)
    ids = [g.id for g in dump.goroutines]
    return GoroutineSnapshot(
        taken_at,
        len(dump.goroutines),
        buckets,
        dump.source_format,
        has_states=True,
        has_leak_profile=any(g.leaked for g in dump.goroutines),
        max_goroutine_id=max(ids) if ids else None,
        truncated=dump.truncated,
    )


_MAX_PARENTS = 8  # how far up the parent chain to look: creators are shallow, and a cycle must end


def _user_frame(frame: Frame | None) -> bool:
    return frame is not None and not is_stdlib(frame.function) and not is_runtime(frame.function)


def _origin(members: Sequence[Goroutine], dump: GoroutineDump, by_id: dict[int, Goroutine]) -> Frame | None:
    """The first user-code frame in the creator chain of a bucket's goroutines: ``created by``, then the
    ``[originating from goroutine N]`` stacks (GODEBUG=tracebackancestors), then the stack of the parent goroutine
    and its own creator while they are still alive (each goroutine id once, a few levels up)."""
    for goroutine in members[:_MAX_IDS]:
        chain: list[Frame | None] = [goroutine.created_by]
        for ancestor in goroutine.ancestors:
            chain += [*ancestor.stack.frames, ancestor.stack.created_by]
        found = next((f for f in chain if _user_frame(f)), None)
        if found is not None:
            return found
        if goroutine.parent_id is None:
            continue
        if not by_id:
            by_id.update((g.id, g) for g in dump.goroutines)
        parent, seen = by_id.get(goroutine.parent_id), {goroutine.id}
        while parent is not None and parent.id not in seen and len(seen) <= _MAX_PARENTS:
            seen.add(parent.id)
            found = next((f for f in (*parent.frames, parent.created_by) if _user_frame(f)), None)
            if found is not None:
                return found
            parent = by_id.get(parent.parent_id) if parent.parent_id is not None else None
    return None


def snapshot_from_profile(
    profile: Profile,
    *,
    taken_at: float = 0.0,
    source_format: str = "proto",
    similarity: Similarity = Similarity.ANY_VALUE,
) -> GoroutineSnapshot:
    """Bucket a goroutine (or goroutineleak) count profile: counts and stacks, no states, waits or arguments (so
    exact and any-pointer are alike here: both keep the lines)."""
    buckets: dict[str, Bucket] = {}
    table = profile.samples
    offsets = table.loc_offsets.tolist()
    flat = table.loc_index.tolist()
    counts = table.values[:, 0].tolist() if len(table) else []
    set_ids = table.label_set.tolist()
    per_location = [location_frames(location) for location in profile.locations]  # built once, shared by stacks
    for i, count in enumerate(counts):
        raw = tuple(frame for index in flat[offsets[i] : offsets[i + 1]] for frame in per_location[index])
        frames = strip_plumbing(raw)
        if not frames:
            continue  # the runtime's empty-stack record (go1.27 goroutineleak quirk)
        lines_key = "|".join(f"{f.function}@{f.file}:{f.line}" for f in frames)
        bucket = buckets.get(lines_key)
        if bucket is None:
            key = stable_key(frames) if similarity is Similarity.ANY_VALUE else strict_key(frames, None)
            bucket = buckets[lines_key] = Bucket(key, frames, state_class=classify_state("", raw))
        bucket.count += int(count)
        label_set = table.label_sets[set_ids[i]]
        if label_set:
            add_labels(bucket.labels, tuple((lb.key, lb.str) for lb in label_set if lb.str is not None), int(count))
    return GoroutineSnapshot(
        taken_at,
        int(sum(counts)),
        buckets,
        source_format,
        has_states=False,
    )


def mark_leaked(snapshot: GoroutineSnapshot, leak_profile: Profile) -> None:
    """Attach a goroutineleak profile: buckets whose stable stack it lists are runtime-proven leaks (matched on the
    stable key of the frames whatever the snapshot's similarity level). A proto leak profile keeps the runtime
    frames that debug=1 text hides, so it also tells how a bucket of unknown state is parked."""
    proven = Counter[str]()
    classes: dict[str, str] = {}
    for bucket in snapshot_from_profile(leak_profile).buckets.values():
        proven[bucket.key] += bucket.count
        if bucket.state_class != "unknown":
            classes.setdefault(bucket.key, bucket.state_class)
    snapshot.has_leak_profile = True
    for bucket in sorted(snapshot.buckets.values(), key=lambda b: -b.count):
        key = stable_key(bucket.frames)
        take = min(bucket.count, proven.get(key, 0))
        if take:
            bucket.leaked = max(bucket.leaked, take)
            proven[key] -= take
            if bucket.state_class == "unknown" and key in classes:
                bucket.state_class = classes[key]
