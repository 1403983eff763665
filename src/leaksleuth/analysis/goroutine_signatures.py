"""Known goroutine-leak signatures.

A signature names a pattern and adds a little evidence; on its own it never makes a suspect (an idle HTTP
connection pool also has persistConn goroutines): growth or a runtime proof has to agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from leaksleuth.analysis.goroutines import Bucket

SourceLine = Callable[[str, int], str | None]

_HTTP_CONN_LOOPS = ("net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop")
_TICKER_LINE = re.compile(r"\.C\b|time\.Tick\(|\bTick\(")
_SEMAPHORE_LINE = re.compile(r"<-\s*struct\{\}\{\}|\.Acquire\(|\bsem\w*\s*<-")
_MANY_CONNECTIONS = 20


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    weight: float


def match_signature(bucket: Bucket, counts: Sequence[int], source_line: SourceLine | None) -> Signature | None:
    functions = {frame.function for frame in bucket.frames}
    if functions.intersection(_HTTP_CONN_LOOPS):
        return Signature("http-body-not-closed", 0.3 if counts[-1] >= _MANY_CONNECTIONS else 0.15)
    blocking = bucket.blocking
    if source_line is None or blocking is None:
        return None
    text = source_line(blocking.file, blocking.line)
    if text is None:
        return None
    if bucket.state_class in ("chan-receive", "select") and _TICKER_LINE.search(text):
        return Signature("ticker-not-stopped", 0.2)
    if bucket.state_class in ("chan-send", "select", "semaphore") and _SEMAPHORE_LINE.search(text):
        return Signature("semaphore-pileup", 0.2)
    return None
