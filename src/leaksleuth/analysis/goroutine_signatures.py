"""Known goroutine-leak signatures, and what to do about each kind of stuck goroutine.

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


_ADVICE = {
    "http-body-not-closed": "Response bodies are not closed, so every request pins a connection and its read/write "
    "goroutines: after checking err, `defer resp.Body.Close()` and read the body to EOF; set Client.Timeout.",
    "ticker-not-stopped": "A ticker loop never ends: `defer ticker.Stop()` and return on `<-ctx.Done()` (or use "
    "time.NewTimer for one-shot waits); time.Tick in a per-request goroutine leaks by design.",
    "semaphore-pileup": "One goroutine per message piles up behind a semaphore (no back-pressure): bound the work "
    "before spawning (a fixed worker pool reading a queue), or select on ctx.Done() while acquiring.",
    "chan-send": "Blocked sending on a channel nobody receives from (often: the caller gave up after a timeout): make "
    "the channel buffered (cap 1) or `select { case ch <- v: case <-ctx.Done(): }`.",
    "chan-receive": "Waiting for a value or close() that never comes: close the channel on every path (defer "
    "close(ch)) or select on ctx.Done().",
    "nil-chan-send": "Sending on a nil channel blocks forever: make() the channel on every code path.",
    "nil-chan-receive": "Receiving (or ranging) on a nil channel blocks forever: make() the channel on every path.",
    "select": "No case of this select can proceed: add a `<-ctx.Done()` or timeout case and make sure senders close.",
    "select-no-cases": "`select {}` blocks forever by design; fine for main, a leak anywhere else.",
    "mutex": "A lock is never released on some path: call `defer mu.Unlock()` right after `mu.Lock()`.",
    "rwmutex-lock": "A read or write lock is never released on some path: `defer mu.Unlock()` / `defer mu.RUnlock()`.",
    "rwmutex-rlock": "A write lock is never released on some path: `defer mu.Unlock()` right after `mu.Lock()`.",
    "waitgroup": "Wait() outlives its workers: every Add(n) needs n Done() calls; use `defer wg.Done()` first thing.",
    "cond": "No Signal/Broadcast will come: check the condition in a loop and make every state change Broadcast.",
    "semaphore": "Blocked acquiring a semaphore that is never released: release with defer right after acquiring.",
    "io-wait": "Blocked on network I/O with no deadline: set SetReadDeadline/SetWriteDeadline or client timeouts.",
    "sleep": "Sleeping in a loop that never exits: stop on ctx.Done() (time.NewTimer + select).",
    "syscall": "Blocked in a system call: check for reads on pipes/files that are never closed.",
}


def advice_for(category: str) -> str:
    return _ADVICE.get(category, "Find what this goroutine waits for and make sure it always arrives or is cancelled.")
