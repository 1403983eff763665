"""Goroutines into buckets: a ``GoroutineSnapshot`` from a debug=2 dump (grouped by interned stack, keyed at the
chosen similarity, with creators found through parent ids) or from a proto / debug=1 profile (counts, runtime
frames, no states), and the leak profile's marks on it."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leaksleuth.analysis.goroutines.buckets import (
    KEY_FRAMES,
    Bucket,
    GoroutineSnapshot,
    Similarity,
    stable_key,
    strip_plumbing,
)
from leaksleuth.analysis.goroutines.labels import add_labels
from leaksleuth.analysis.goroutines.states import blocking_frame, classify_state
from leaksleuth.analysis.symbols import is_runtime, is_stdlib, location_frames, normalize_function
from leaksleuth.model.goroutines import Frame, Goroutine, GoroutineDump, Stack

if TYPE_CHECKING:
    from leaksleuth.model.profile import Profile

_POINTER = re.compile(r"0x[0-9a-f]{6,}\??")  # "0xc000012345?": ? marks a value the runtime is unsure of


_MAX_IDS = 5


def _args_key(goroutine: Goroutine, similarity: Similarity) -> str:
    if similarity is Similarity.ANY_VALUE:
        return ""
    text = goroutine.call_text
    return text if similarity is Similarity.EXACT else _POINTER.sub("0x?", text)


def strict_key(frames: Sequence[Frame], created_by: Frame | None) -> str:
    """The key at the strict levels, before arguments: functions, file base names and lines, and the creator."""
    key = "|".join(f"{normalize_function(f.function)}@{f.file_base}:{f.line}" for f in frames[:KEY_FRAMES])
    if created_by is not None:
        key += f"<{normalize_function(created_by.function)}@{created_by.file_base}:{created_by.line}"
    return key


def _with_args(key: str, args_key: str) -> str:
    """A digest of the arguments (printed in full they would make keys of kilobytes)."""
    if not args_key:
        return key
    import hashlib  # here: only the strict similarity levels digest arguments

    return key + "#" + hashlib.blake2b(args_key.encode(), digest_size=4).hexdigest()


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


@dataclass(frozen=True, slots=True)
class LeakProof:
    """Goroutines the runtime proved leaked, per stable stack key, and how each such stack is parked.

    Leaked goroutines stay leaked until the process restarts, so a watcher applies the last proof to the rounds
    that fetched no leak profile (the adaptive plan asks for one on growth and every few rounds, not every round)."""

    taken_at: float
    leaked: dict[str, int]
    classes: dict[str, str]


def mark_leaked(snapshot: GoroutineSnapshot, leak_profile: Profile) -> None:
    """Attach a goroutineleak profile: buckets whose stable stack it lists are runtime-proven leaks (matched on the
    stable key of the frames whatever the snapshot's similarity level). A proto leak profile keeps the runtime
    frames that debug=1 text hides, so it also tells how a bucket of unknown state is parked."""
    listed = snapshot_from_profile(leak_profile).buckets.values()  # every goroutine it lists is leaked
    apply_proof(snapshot, _proof(snapshot.taken_at, ((b.key, b.count, b.state_class) for b in listed)))


def leak_proof(snapshot: GoroutineSnapshot) -> LeakProof | None:
    """What a snapshot proves (its leak profile, or a dump's ``(leaked)`` marks); None when it proves nothing."""
    if not snapshot.has_leak_profile:
        return None
    marked = (b for b in snapshot.buckets.values() if b.leaked)
    return _proof(snapshot.taken_at, ((stable_key(b.frames), b.leaked, b.state_class) for b in marked))


def _proof(taken_at: float, buckets: Iterable[tuple[str, int, str]]) -> LeakProof:
    """A proof from (stable key, leaked goroutines, state class) per bucket."""
    leaked = Counter[str]()
    classes: dict[str, str] = {}
    for key, count, state_class in buckets:
        leaked[key] += count
        if state_class != "unknown":
            classes.setdefault(key, state_class)
    return LeakProof(taken_at, dict(leaked), classes)


def apply_proof(snapshot: GoroutineSnapshot, proof: LeakProof) -> None:
    """Mark the buckets a proof lists as leaked, the biggest first, never more goroutines than a bucket holds."""
    proven = Counter(proof.leaked)
    snapshot.has_leak_profile = True
    for bucket in sorted(snapshot.buckets.values(), key=lambda b: -b.count):
        key = stable_key(bucket.frames)
        take = min(bucket.count, proven.get(key, 0))
        if take:
            bucket.leaked = max(bucket.leaked, take)
            proven[key] -= take
            if bucket.state_class == "unknown" and key in proof.classes:
                bucket.state_class = proof.classes[key]
