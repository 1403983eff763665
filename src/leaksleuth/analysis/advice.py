"""What to do about each category of leak, in one place: goroutine states and signatures, heap allocation kinds."""

from __future__ import annotations

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
    "parked-forever": "The runtime proved these goroutines can never run again, but their number has not grown: "
    "a run loop that finished its work and parks by design costs a stack (8 KiB) each. Let it return if it is "
    "done; if its count ever rises, it is a leak.",
    "mutex": "A lock is never released on some path: call `defer mu.Unlock()` right after `mu.Lock()`.",
    "rwmutex-lock": "A read or write lock is never released on some path: `defer mu.Unlock()` / `defer mu.RUnlock()`.",
    "rwmutex-rlock": "A write lock is never released on some path: `defer mu.Unlock()` right after `mu.Lock()`.",
    "waitgroup": "Wait() outlives its workers: every Add(n) needs n Done() calls; use `defer wg.Done()` first thing.",
    "cond": "No Signal/Broadcast will come: check the condition in a loop and make every state change Broadcast.",
    "semaphore": "Blocked acquiring a semaphore that is never released: release with defer right after acquiring.",
    "io-wait": "Blocked on network I/O with no deadline: set SetReadDeadline/SetWriteDeadline or client timeouts.",
    "sleep": "Sleeping in a loop that never exits: stop on ctx.Done() (time.NewTimer + select).",
    "syscall": "Blocked in a system call: check for reads on pipes/files that are never closed.",
    # heap
    "large-buffer-retention": "Big buffers stay alive after use: a small sub-slice (buf[:n]) or a pointer into them "
    "keeps the whole array; copy what you keep (bytes.Clone, strings.Clone) and let the buffer go, or reuse buffers "
    "through a bounded sync.Pool.",
    "slice-retention": "Slices allocated here are never released: something keeps appending them to a long-lived "
    "structure (a global, a cache without eviction, a per-key map); bound it or drop entries when done.",
    "map-growth": "A map keeps growing: entries are added per request and never deleted (maps never shrink). Evict "
    "(an LRU with a size limit or a TTL), delete when done, or rebuild the map periodically.",
    "slice-growth": "A slice keeps growing with append and is never truncated: cap it, reset it (s = s[:0]) or "
    "replace it when it is consumed.",
    "object-growth": "Objects allocated here stay reachable: find the long-lived structure holding them (a global "
    "registry, a listener list, a cache) and remove them when their work ends.",
    "string-growth": "Strings built here are kept: an ever-growing concatenation or a cache keyed by request data; "
    "bound the cache, or build with strings.Builder and release the result.",
    "goroutine-stack-growth": "The memory is goroutine stacks: goroutines are leaking; `leaksleuth goroutines` names "
    "the line they are stuck on.",
}


_ADVICE.update(
    {  # series findings (fleet, watch): no code site yet, so the advice says where to look next
        "heap-growth": "The live heap keeps growing: run `leaksleuth heap trend URL --every 30s --count 10` on this "
        "instance (or `watch` it) to find the allocation site that grows.",
        "goroutine-growth": "Goroutines keep piling up: run `leaksleuth goroutines URL --every 10s --count 6` on this "
        "instance to see the line they are stuck on.",
        "non-heap-growth": "Memory outside the Go heap grows: cgo allocations, mmap'd files, or unbounded goroutine "
        "stacks; check cgo libraries and anything mapping memory.",
        "rss-up-gc-stalled": "RSS grows while the GC hardly runs: GOGC=off or a GOMEMLIMIT far away lets garbage pile "
        "up; set GOMEMLIMIT below the container limit, or fix the leak the heap view shows.",
        "step-growth": "Memory grows in steps: something leaks per event (a deploy, a reconnect, a cache reload); "
        "correlate the dated jumps with logs.",
        "oom-forecast": "At this slope the process reaches its memory limit soon: capture heap and goroutine profiles "
        "now (`leaksleuth serve` does on an alert) and plan a restart.",
    }
)


def advice_for(category: str) -> str:
    return _ADVICE.get(
        category,
        "Find what holds this (the stack or leak path shows the way in) and make sure it is released or bounded.",
    )
