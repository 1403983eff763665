"""Runtime memory and process statistics, whatever the source (heap debug=1 trailer, expvar, /metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(slots=True)
class MemStats:
    """The ``runtime.MemStats`` fields leak analysis uses, plus process-level facts. ``None`` = not reported."""

    heap_alloc: int | None = None  # bytes of allocated heap objects (live + not yet swept)
    heap_inuse: int | None = None  # bytes in in-use spans
    heap_idle: int | None = None
    heap_released: int | None = None
    heap_sys: int | None = None
    heap_objects: int | None = None
    total_alloc: int | None = None  # cumulative bytes allocated
    mallocs: int | None = None
    frees: int | None = None
    sys: int | None = None  # total bytes obtained from the OS
    stack_inuse: int | None = None
    stack_sys: int | None = None
    gc_sys: int | None = None
    next_gc: int | None = None  # heap goal of the next GC
    last_gc_ns: int | None = None  # wall time of the last GC, ns since epoch
    num_gc: int | None = None
    num_forced_gc: int | None = None
    pause_total_ns: int | None = None
    gc_cpu_fraction: float | None = None
    # beyond MemStats
    goroutines: int | None = None
    threads: int | None = None
    rss_bytes: int | None = None  # process resident memory
    max_rss_bytes: int | None = None
    virtual_bytes: int | None = None
    open_fds: int | None = None
    process_start_seconds: float | None = None
    go_version: str | None = None
    gomemlimit_bytes: int | None = None
    gogc_percent: int | None = None  # -1: GOGC=off
    gomaxprocs: int | None = None
    # GC pause percentiles in seconds: the /metrics summary's quantiles, or computed from MemStats.PauseNs
    gc_pause_p50_seconds: float | None = None
    gc_pause_p75_seconds: float | None = None
    gc_pause_max_seconds: float | None = None
    gc_pauses_ns: tuple[int, ...] = ()  # the recent pauses MemStats.PauseNs holds (expvar, heap debug=1), newest last
    source: str = ""
    extra: dict[str, float] = field(default_factory=dict)  # other numeric facts the source reported

    def known(self) -> dict[str, int | float | str]:
        """The fields that were reported, for display and JSON."""
        out: dict[str, int | float | str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value != () and f.name not in ("extra", "source", "gc_pauses_ns"):
                out[f.name] = value
        return out
