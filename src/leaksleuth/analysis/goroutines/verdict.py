"""From goroutine buckets to ranked leak suspects: evidence, fused into one confidence.

Evidence (each a weight in [0, 1], fused with a noisy-OR so independent signals reinforce each other):

- runtime-proven: the goroutineleak profile or ``(leaked)`` lists the bucket (Go >= 1.26): the runtime proved the
  goroutines can never run again.
- growth: the bucket's count grows across snapshots of one instance (Theil–Sen + Mann–Kendall on the newest
  segment after a restart), persistently, without flattening out, and not merely in step with load.
- long-wait: goroutines parked on a channel, lock, WaitGroup or Cond for many minutes. Alone this is what an idle
  worker pool looks like, so it stays below a suspect's confidence unless something else agrees.
- signature: known patterns with advice (net/http ``persistConn`` loops = response bodies not closed, ticker loops,
  goroutine-per-message pile-ups).
- peer-outlier: the same bucket is far larger here than on the other instances of the service.

Healthy look-alikes stay quiet: a stable idle pool has no growth; a burst that returns has no monotonic trend; server
connection goroutines parked in net/http itself (idle keep-alive, reading the next request) follow open connections
(load); fixed background loops do not grow. A connection goroutine stuck in a *handler* (its blocking frame is user
code waiting on a lock, channel, WaitGroup or Cond) gets no such discount: that is the handler's leak, and every
client that times out leaves one more behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from leaksleuth.analysis.advice import advice_for
from leaksleuth.analysis.evidence import HINT_CEILING, Evidence, GrowthRule, fuse, growth
from leaksleuth.analysis.goroutines.buckets import BLOCKING_CLASSES, Bucket, GoroutineSnapshot, History, Window
from leaksleuth.analysis.goroutines.labels import label_evidence, label_phrase
from leaksleuth.analysis.goroutines.signatures import match_signature
from leaksleuth.analysis.goroutines.states import classify_source
from leaksleuth.analysis.symbols import is_stdlib
from leaksleuth.model.evidence import GoroutineEvidence
from leaksleuth.model.goroutines import Frame
from leaksleuth.model.report import Suspect
from leaksleuth.model.verdict import REPORT_THRESHOLD

SourceLine = Callable[[str, int], str | None]


@dataclass(slots=True)
class Options:
    min_growth: int = 5  # goroutines: smaller increases are noise whatever the statistics say
    long_wait_minutes: int = 10
    ignore_functions: tuple[str, ...] = ()  # regexes on any frame's function (goleak's IgnoreTopFunction, widened)
    ignore_created_by: tuple[str, ...] = ()  # regexes on the creator function (goleak's IgnoreCreatedBy)
    report_threshold: float = REPORT_THRESHOLD  # suspects below this are not reported
    # a live watch: the first look at a few proven goroutines is not a verdict yet (a finished run loop parked in
    # `select {}` looks exactly so); the next snapshot tells flat from growing. One-shot commands judge at once.
    watching: bool = False


_PROFILE_WRITERS = ("runtime/pprof.writeGoroutine", "runtime/pprof.writeRuntimeProfile", "runtime/pprof.(*Profile).")


def _ignored(bucket: Bucket, options: Options) -> bool:
    if bucket.state_class in ("runtime-internal", "running") or not bucket.frames:
        return True
    if any(f.function.startswith(_PROFILE_WRITERS) for f in bucket.frames):
        return True  # the goroutine writing this very profile
    if options.ignore_functions and any(
        re.search(p, f.function) for p in options.ignore_functions for f in bucket.frames
    ):
        return True
    creator = bucket.created_by
    return bool(
        creator is not None
        and options.ignore_created_by
        and any(re.search(p, creator.function) for p in options.ignore_created_by)
    )


_PERSISTENCE = 0.6  # fraction of steps that rise or hold


def _growth(history: History, start: int, load: list[int], options: Options) -> Evidence | None:
    """The shared growth test on the bucket's count since the last restart; ``load``: open server connections."""
    counts = history.counts[start:]
    times = history.times[start:]
    rule = GrowthRule(float(options.min_growth), _PERSISTENCE, min_points=4)
    if len(counts) < 4 or counts[-1] - min(counts) < options.min_growth:
        return None  # cannot have grown enough: numpy and the O(n^2) statistics only past this cheap test
    import numpy as np

    found = growth(times, counts, rule, np.asarray(load[start:], dtype=np.float64))
    if found is None:
        return None
    fitted = found.fitted
    detail: dict[str, Any] = {
        "from": counts[0],
        "to": counts[-1],
        "snapshots": len(counts),
        "seconds": round(times[-1] - times[0], 1),
        "slope_per_minute": round(fitted.slope * 60, 2),
        "p_value": float(f"{fitted.p_value:.3g}"),
        "tau": round(fitted.tau, 3),
        "rising_steps": round(fitted.rising_steps, 2),
        "plateaued": fitted.plateaued,
    }
    if "discount" in found.evidence:
        detail["discount"] = found.evidence["discount"]
    return Evidence("growth", found.weight, detail)


def _long_wait(bucket: Bucket, options: Options) -> Evidence | None:
    if bucket.wait_max is None or bucket.wait_max < options.long_wait_minutes:
        return None
    if bucket.state_class not in BLOCKING_CLASSES:
        return None
    weight = 0.35 if bucket.wait_max >= 60 else 0.25
    return Evidence("long-wait", weight, {"wait_minutes": [bucket.wait_min, bucket.wait_max]})


def _peer_outlier(key: str, count: int, peers: Sequence[dict[str, int]]) -> Evidence | None:
    """Far more goroutines here than on the other instances of the service. A bucket the peers lack entirely is
    weak evidence (a leader or a singleton job runs on one replica only); a bucket they all have, ten times over,
    is strong."""
    if len(peers) < 2:
        return None
    import statistics  # here: only a fleet has peers (fractions, decimal and random are a tenth of a file's start)

    others = [p.get(key, 0) for p in peers]
    median = statistics.median(others)
    if count < 3 * median + 20:
        return None
    ratio = count / max(median, 1.0)
    weight = 0.3 if median == 0 else 0.55 if ratio >= 10 and count - median >= 50 else 0.4
    return Evidence("peer-outlier", weight, {"count": count, "peer_median": median, "peers": len(peers)})


PROVEN_FLOOR = 0.95  # a leak the runtime proved outranks any leak inferred from growth, waits or signatures


def _ranked(confidence: float, evidence: Sequence[Evidence]) -> float:
    """Proof beats inference: runtime-proven leaks score at least PROVEN_FLOOR, inferred ones stay just below it."""
    if any(e.kind == "runtime-proven" for e in evidence):
        return max(confidence, PROVEN_FLOOR)
    return min(confidence, PROVEN_FLOOR - 0.01)


def evaluate(
    snapshots: Sequence[GoroutineSnapshot] | Window,
    *,
    options: Options | None = None,
    peers: Sequence[GoroutineSnapshot | dict[str, int]] = (),
    source_line: SourceLine | None = None,
) -> tuple[list[Suspect], list[History]]:
    """Suspects (sorted, highest confidence first) and the bucket histories behind them.

    ``peers`` are the other instances of the same service: their latest snapshots, or their counts per stable key.
    """
    options = options or Options()
    window = snapshots if isinstance(snapshots, Window) else Window.of(snapshots)
    if not len(window):
        return [], []
    all_histories = window.histories()
    start = window.last_segment()
    load = window.load
    peer_counts = [p if isinstance(p, dict) else counts_by_key(p) for p in peers]
    suspects: list[Suspect] = []
    for history in all_histories:
        history.latest = bucket = _refined(history.latest, source_line)
        if _ignored(bucket, options) or history.counts[-1] == 0:
            continue
        evidence = _collect(history, start, load, peer_counts, options, source_line)
        confidence = _ranked(fuse([e.weight for e in evidence]), evidence)
        parked = any(e.kind == PARKED_FOREVER for e in evidence) and not any(e.kind == "growth" for e in evidence)
        if parked or (options.watching and bucket.leaked and _first_look(history.counts, options)):
            confidence = min(confidence, PARKED_CEILING)
        if confidence < options.report_threshold:
            continue
        suspects.append(_suspect(history, evidence, confidence, restarted=start > 0, source_line=source_line))
    suspects = _merge_signatures(suspects)
    suspects.sort(key=lambda s: (-s.confidence, -_count(s), s.file, s.line))
    return suspects, all_histories


def counts_by_key(snapshot: GoroutineSnapshot) -> dict[str, int]:
    counts: dict[str, int] = {}
    for bucket in snapshot.buckets.values():
        counts[bucket.key] = counts.get(bucket.key, 0) + bucket.count
    return counts


def _collect(
    history: History,
    start: int,
    load: list[int],
    peer_counts: list[dict[str, int]],
    options: Options,
    source_line: SourceLine | None,
) -> list[Evidence]:
    bucket = history.latest
    evidence: list[Evidence] = []
    if bucket.leaked and _parked_flat(history.counts, options):  # the whole window: a restart parks it again
        evidence.append(Evidence(PARKED_FOREVER, PARKED_WEIGHT, {"leaked": bucket.leaked, "counts": history.counts}))
    elif bucket.leaked:
        weight = 0.95 if bucket.leaked >= 3 else 0.9
        evidence.append(Evidence("runtime-proven", weight, {"leaked": bucket.leaked}))
    growth = _growth(history, start, load, options)
    if growth is not None:
        evidence.append(growth)
    wait = _long_wait(bucket, options)
    if wait is not None:
        evidence.append(wait)
    signature = match_signature(bucket, history.counts, source_line, growing=growth is not None)
    if signature is not None:
        evidence.append(Evidence("signature", signature.weight, {"name": signature.name}))
    peer = _peer_outlier(history.key, history.counts[-1], peer_counts)
    if peer is not None:
        evidence.append(peer)
    if bucket.connection_plumbing:
        for item in evidence:
            if item.kind in ("growth", "peer-outlier", "long-wait"):
                item.weight *= 0.2  # one goroutine per open connection is how net/http serves
                item.detail["discount"] = "server connection goroutines follow open connections"
    return evidence


PARKED_FOREVER = "parked-forever"
PARKED_WEIGHT = 0.3
PARKED_CEILING = HINT_CEILING  # a by-design park stays a hint whatever else agrees: nobody is paged for it


def _parked_flat(counts: Sequence[int], options: Options) -> bool:
    """Proven unreachable but not growing: seen in two snapshots or more, no more goroutines now than when first
    seen, and fewer than ``min_growth``. One snapshot cannot tell flat from growing, so it keeps the proof's weight
    (a single dump with a leaked goroutine is judged as before); the first goroutine more makes it a leak again."""
    seen = [count for count in counts if count > 0]
    return len(seen) >= 2 and counts[-1] <= seen[0] and counts[-1] < options.min_growth


def _first_look(counts: Sequence[int], options: Options) -> bool:
    """Seen in one snapshot only, fewer than ``min_growth``: parked by design or the start of a leak, not known yet."""
    return sum(1 for count in counts if count > 0) == 1 and counts[-1] < options.min_growth


def _refined(bucket: Bucket, source_line: SourceLine | None) -> Bucket:
    """debug=1 hides the runtime frames that tell a channel operation from a select: when the state is unknown and
    the blocking line can be read here, the statement on it says (a copy: the caller's snapshots stay as they are)."""
    if bucket.state_class != "unknown" or source_line is None or bucket.blocking is None:
        return bucket
    text = source_line(bucket.blocking.file, bucket.blocking.line)
    found = classify_source(text) if text is not None else None
    return bucket if found is None else replace(bucket, state_class=found)


_UNKNOWN_STATE_ADVICE = (
    "This input does not say how these goroutines are parked (debug=1 text hides the runtime frames of channel "
    "operations and selects): capture ?debug=2 or the proto profile, with the goroutineleak profile on Go >= 1.26, "
    "to tell a channel, select or lock wait apart; the blocking line above is the place to look."
)
_RECEIVE_WITHOUT_SOURCE = (
    " If the channel is a ticker's (time.NewTicker / time.Tick in a loop; the source was not readable here to "
    "tell), the loop wakes on every tick and never ends: `defer ticker.Stop()` and return on `<-ctx.Done()`."
)


def _advice(category: str, bucket: Bucket, source_line: SourceLine | None) -> str:
    """The category's advice, worded for what the input could show."""
    if category == "unknown":
        return _UNKNOWN_STATE_ADVICE
    advice = advice_for(category)
    if category in ("chan-receive", "select") and not bucket.leaked and not _source_readable(bucket, source_line):
        advice += _RECEIVE_WITHOUT_SOURCE  # a ticker loop looks exactly like this on the stack
    return advice


def _source_readable(bucket: Bucket, source_line: SourceLine | None) -> bool:
    blocking = bucket.blocking
    return source_line is not None and blocking is not None and source_line(blocking.file, blocking.line) is not None


def _site(frame: Frame | None) -> str:
    return f"{frame.file_base}:{frame.line}" if frame else "?"


def _first_seen(history: History) -> float | None:
    """When this bucket first held goroutines in the window (unix seconds; None before any snapshot time)."""
    for taken_at, count in zip(history.times, history.counts, strict=False):
        if count and taken_at:
            return taken_at
    return None


def _suspect(
    history: History, evidence: list[Evidence], confidence: float, *, restarted: bool, source_line: SourceLine | None
) -> Suspect:
    bucket = history.latest
    blocking = bucket.blocking
    signature = next((e.detail["name"] for e in evidence if e.kind == "signature"), None)
    parked = any(e.kind == PARKED_FOREVER for e in evidence)
    category = PARKED_FOREVER if parked else signature or bucket.state_class
    count = history.counts[-1]
    state = bucket.states.most_common(1)[0][0] if bucket.states else bucket.state_class.replace("-", " ")
    if state == "unknown":
        state = "an unknown wait (debug=1 hides it)"
    parts = [f"{count} goroutine{'s' if count != 1 else ''} blocked in {state} at {_site(blocking)}"]
    if bucket.created_by is not None:
        parts[0] += f", created by {bucket.created_by.short_function} ({_site(bucket.created_by)})"
    named, origin_note = _user_site(bucket)
    if origin_note:
        parts.append(origin_note)
    growth = next((e for e in evidence if e.kind == "growth"), None)
    if growth is not None:
        parts.append(f"+{growth.detail['to'] - growth.detail['from']} in {growth.detail['seconds']:g}s")
    if parked:
        parts.append(f"{bucket.leaked} proven unreachable but not growing: by design?")
    elif bucket.leaked:
        parts.append(f"{bucket.leaked} proven leaked by the runtime")
    wait = next((e for e in evidence if e.kind == "long-wait"), None)
    if wait is not None:
        parts.append(f"waiting up to {bucket.wait_max} min")
    labelled = label_evidence(bucket.labels)
    phrase = label_phrase(labelled, count)
    if phrase:
        parts.append(phrase)
    details = GoroutineEvidence(
        count=count,
        state=bucket.state_class,
        states=dict(bucket.states),
        wait_minutes=(bucket.wait_min, bucket.wait_max) if bucket.wait_max is not None else None,
        created_by=f"{bucket.created_by.function} {bucket.created_by.site()}" if bucket.created_by else None,
        parents=[gid for gid, _ in bucket.parents.most_common(3)],
        goroutine_ids=bucket.goroutine_ids,
        series=history.counts,
        used=[e.kind for e in evidence],
        weights={e.kind: round(e.weight, 3) for e in evidence},
        advice=_advice(category, bucket, source_line),
        restart_seen=restarted,
        bucket=history.key,
        details={item.kind: item.detail for item in evidence if item.detail},
        first_seen=_first_seen(history),
        labels=labelled,
    )
    if named is not blocking and named is not None and blocking is not None:
        details.blocking = f"{blocking.function} {blocking.site()}"
    return Suspect(
        kind="goroutine",
        category=category,
        function=named.function if named else "",
        file=named.file if named else "",
        line=named.line if named else 0,
        confidence=round(confidence, 3),
        summary="; ".join(parts),
        evidence=details,
    )


def _count(suspect: Suspect) -> int:
    return suspect.evidence.count if isinstance(suspect.evidence, GoroutineEvidence) else 0


def _user_site(bucket: Bucket) -> tuple[Frame | None, str]:
    """The line to name and what to say about it. A goroutine that runs only library code (net/http's persistConn
    loops) is named by the user-code frame that started it, when its creator chain has one; otherwise the summary
    says why the line named is the library's."""
    blocking = bucket.blocking
    if blocking is None or not is_stdlib(blocking.function):
        return blocking, ""
    if bucket.origin is not None:
        return bucket.origin, f"started from user code at {_site(bucket.origin)} (creator chain)"
    return blocking, (
        "no user code in its stack or creator chain (the creating goroutine is gone; "
        "GODEBUG=tracebackancestors=5 keeps the chain): the line named is the library's"
    )


def _merge_signatures(suspects: list[Suspect]) -> list[Suspect]:
    """net/http's read and write loops are one problem: keep the stronger suspect and add the other's count."""
    merged: dict[str, Suspect] = {}
    rest: list[Suspect] = []
    for suspect in suspects:
        if suspect.category != "http-body-not-closed":
            rest.append(suspect)
            continue
        kept = merged.get(suspect.category)
        if kept is None:
            merged[suspect.category] = suspect
            continue
        stronger, weaker = (kept, suspect) if kept.confidence >= suspect.confidence else (suspect, kept)
        if isinstance(stronger.evidence, GoroutineEvidence):
            stronger.evidence.related_count = (stronger.evidence.related_count or 0) + _count(weaker)
        merged[suspect.category] = stronger
    return rest + list(merged.values())
