"""Known goroutine-leak signatures.

A signature names a pattern and adds a little evidence; on its own it never makes a suspect (an idle HTTP
connection pool also has persistConn goroutines): growth or a runtime proof has to agree.

What the stack shows and what it does not: net/http's ``persistConn`` loops are frames of their own, and so is
``golang.org/x/sync/semaphore.(*Weighted).Acquire``. A ticker loop is not: ``for range ticker.C`` parks in
``runtime.chanrecv2`` like any other range over a channel (debug=2 prints only the user frame), so a ticker is only
recognisable from the source line, when it can be read here. Without it the category stays ``chan-receive`` and the
advice says that a ticker is one way to get there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from leaksleuth.analysis.goroutines.buckets import Bucket

SourceLine = Callable[[str, int], str | None]

_HTTP_CONN_LOOPS = ("net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop")
_WEIGHTED_ACQUIRE = "golang.org/x/sync/semaphore.(*Weighted).Acquire"
_TICKER_LINE = re.compile(r"\.C\b|time\.Tick\(|\bTick\(")
# acquiring a slot: `sem <- struct{}{}` (the channel expression is captured to find its release below)
_TOKEN_SEND = re.compile(r"^\s*([\w.\[\]]+)\s*<-\s*struct\{\}\{\}")
_RELEASE_LINES = 4  # the release (`defer func() { <-sem }()`) follows the acquire closely
_MANY_CONNECTIONS = 20
PILE_UP = 10  # goroutines queued on one acquire line before it is a pile-up rather than a busy moment


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    weight: float


def match_signature(
    bucket: Bucket, counts: Sequence[int], source_line: SourceLine | None, *, growing: bool = False
) -> Signature | None:
    """``growing``: the growth evidence agreed for this bucket (a semaphore pile-up needs it)."""
    functions = {frame.function for frame in bucket.frames}
    if functions.intersection(_HTTP_CONN_LOOPS):
        return Signature("http-body-not-closed", 0.3 if counts[-1] >= _MANY_CONNECTIONS else 0.15)
    if _semaphore_pile_up(bucket, counts, source_line, functions, growing=growing):
        return Signature("semaphore-pileup", 0.2)
    blocking = bucket.blocking
    if source_line is None or blocking is None:
        return None
    text = source_line(blocking.file, blocking.line)
    if text is None:
        return None
    if bucket.state_class in ("chan-receive", "select") and _TICKER_LINE.search(text):
        return Signature("ticker-not-stopped", 0.2)
    return None


def _semaphore_pile_up(
    bucket: Bucket, counts: Sequence[int], source_line: SourceLine | None, functions: set[str], *, growing: bool
) -> bool:
    """Many goroutines queued to acquire the same counting semaphore, more every snapshot.

    The token syntax alone proves nothing (``done <- struct{}{}`` is a plain signal), so it takes all of: a growing
    pile of at least ``PILE_UP`` goroutines on the acquire; the acquire being a semaphore (x/sync's Weighted, or a
    token send into a channel that the next lines receive from again: acquire, then release); and no runtime proof
    (a channel the runtime proved unreachable has no holder left to release it: that is a lost channel, not a queue).
    """
    if bucket.leaked or not growing or counts[-1] < PILE_UP:
        return False
    if bucket.state_class not in ("chan-send", "select", "semaphore"):
        return False
    if any(function.startswith(_WEIGHTED_ACQUIRE) for function in functions):
        return True
    blocking = bucket.blocking
    if source_line is None or blocking is None:
        return False
    acquire = _TOKEN_SEND.match(source_line(blocking.file, blocking.line) or "")
    if acquire is None:
        return False
    release = re.compile(r"<-\s*" + re.escape(acquire.group(1)) + r"\b")
    following = (source_line(blocking.file, blocking.line + step) for step in range(1, _RELEASE_LINES + 1))
    return any(text is not None and release.search(text) for text in following)
