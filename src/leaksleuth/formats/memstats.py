"""MemStats from expvar ``/debug/vars`` JSON, Prometheus ``/metrics`` text and the heap debug=1 trailer."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from leaksleuth.errors import ParseError
from leaksleuth.model.memstats import MemStats

# runtime.MemStats field (as printed by expvar and the heap debug=1 trailer) -> MemStats attribute
GO_FIELDS = {
    "HeapAlloc": "heap_alloc",
    "HeapInuse": "heap_inuse",
    "HeapIdle": "heap_idle",
    "HeapReleased": "heap_released",
    "HeapSys": "heap_sys",
    "HeapObjects": "heap_objects",
    "TotalAlloc": "total_alloc",
    "Mallocs": "mallocs",
    "Frees": "frees",
    "Sys": "sys",
    "StackInuse": "stack_inuse",
    "StackSys": "stack_sys",
    "GCSys": "gc_sys",
    "NextGC": "next_gc",
    "LastGC": "last_gc_ns",
    "NumGC": "num_gc",
    "NumForcedGC": "num_forced_gc",
    "PauseTotalNs": "pause_total_ns",
    "GCCPUFraction": "gc_cpu_fraction",
    "MaxRSS": "max_rss_bytes",
}

# Prometheus metric (client_golang's Go and process collectors) -> MemStats attribute
PROMETHEUS_METRICS = {
    "go_memstats_heap_alloc_bytes": "heap_alloc",
    "go_memstats_heap_inuse_bytes": "heap_inuse",
    "go_memstats_heap_idle_bytes": "heap_idle",
    "go_memstats_heap_released_bytes": "heap_released",
    "go_memstats_heap_sys_bytes": "heap_sys",
    "go_memstats_heap_objects": "heap_objects",
    "go_memstats_alloc_bytes_total": "total_alloc",
    "go_memstats_mallocs_total": "mallocs",
    "go_memstats_frees_total": "frees",
    "go_memstats_sys_bytes": "sys",
    "go_memstats_stack_inuse_bytes": "stack_inuse",
    "go_memstats_stack_sys_bytes": "stack_sys",
    "go_memstats_gc_sys_bytes": "gc_sys",
    "go_memstats_next_gc_bytes": "next_gc",
    "go_gc_duration_seconds_count": "num_gc",  # client_golang has no NumGC gauge: the pause summary counts GCs
    "go_goroutines": "goroutines",
    "go_threads": "threads",
    "process_resident_memory_bytes": "rss_bytes",
    "process_virtual_memory_bytes": "virtual_bytes",
    "process_open_fds": "open_fds",
    "process_start_time_seconds": "process_start_seconds",
    "go_gc_gogc_percent": "gogc_percent",
    "go_gc_gomemlimit_bytes": "gomemlimit_bytes",
    "go_sched_gomaxprocs_threads": "gomaxprocs",
    "go_memstats_gc_cpu_fraction": "gc_cpu_fraction",  # client_golang < 1.12; later ones dropped it
}
# go_gc_duration_seconds' quantiles (client_golang: debug.ReadGCStats' PauseQuantiles) -> MemStats attribute
PAUSE_QUANTILES = {"0.5": "gc_pause_p50_seconds", "0.75": "gc_pause_p75_seconds", "1": "gc_pause_max_seconds"}
MAX_PAUSE_SECONDS = 3600.0  # a stop-the-world pause this long is a corrupt page, not a GC: the quantile is dropped
PAUSE_SUMMARY = "go_gc_duration_seconds"
# MemStats attribute -> its Prometheus metric (for the PromQL of ``fleet`` and ``rules``)
PROMETHEUS_METRIC_OF = {attribute: metric for metric, attribute in PROMETHEUS_METRICS.items() if attribute}
_FLOAT_FIELDS = {"gc_cpu_fraction", "process_start_seconds", *PAUSE_QUANTILES.values()}
_PAUSE_RING = 256  # MemStats.PauseNs is a circular buffer of the last 256 pauses


def _usable(value: float) -> bool:
    """A finite number in a float's range (JSON allows integers of any size: 1e400 written out in digits)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _assign(stats: MemStats, attribute: str, value: float) -> None:
    if not _usable(value):
        return
    setattr(stats, attribute, float(value) if attribute in _FLOAT_FIELDS else int(value))


def parse_expvar(data: bytes | str) -> MemStats:
    """``/debug/vars``: a JSON object whose ``memstats`` member is runtime.MemStats."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        position = getattr(exc, "pos", None)
        raise ParseError(f"not JSON ({exc})", offset=position, data=data[:60], format_name="expvar") from exc
    except RecursionError:
        position = _too_deep_at(data)
        raise ParseError(
            f"JSON nested more than {_MAX_DEPTH} levels deep (expvar output is a few levels deep)",
            offset=position,
            data=data[position : position + 60] if position is not None else data[:60],
            format_name="expvar",
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("memstats"), dict):
        raise ParseError("JSON has no 'memstats' object (is expvar imported?)", data=data[:60], format_name="expvar")
    memstats: dict[str, Any] = document["memstats"]
    stats = MemStats(source="expvar")
    for go_name, attribute in GO_FIELDS.items():
        value = memstats.get(go_name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            _assign(stats, attribute, value)
    if stats.last_gc_ns == 0:
        stats.last_gc_ns = None
    ring = memstats.get("PauseNs")
    if isinstance(ring, list):
        set_pauses(
            stats,
            [v for v in ring[:_PAUSE_RING] if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 63],
        )
    for key, value in document.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and _usable(value):
            stats.extra[key] = float(value)
    return stats


_MAX_DEPTH = 500  # json.loads recurses once per level and runs out of stack near 1000
_JSON_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]')
_JSON_NESTING_BYTES = re.compile(_JSON_NESTING.pattern.encode())


def _too_deep_at(data: bytes | str) -> int | None:
    """Offset of the bracket that opens level ``_MAX_DEPTH + 1`` (only asked once json.loads gave up)."""
    depth = 0
    matches = _JSON_NESTING.finditer(data) if isinstance(data, str) else _JSON_NESTING_BYTES.finditer(data)
    for match in matches:
        token = match.group()
        if token in ("[", "{", b"[", b"{"):
            depth += 1
            if depth > _MAX_DEPTH:
                return match.start()
        elif token in ("]", "}", b"]", b"}"):
            depth -= 1
    return None


def parse_memstats_trailer(lines: list[str]) -> MemStats:
    """The ``# runtime.MemStats`` block at the end of heap debug=1 (``# HeapAlloc = 123``)."""
    stats = MemStats(source="heap debug=1")
    ring: list[int] = []
    for line in lines:
        name, equals, value = line.lstrip("# ").partition(" = ")
        if not equals:
            continue
        attribute = GO_FIELDS.get(name)
        if name == "PauseNs":  # "PauseNs = [382266 551257 0 0 …]"
            ring = [int(v) for v in value.strip("[]").split()[:_PAUSE_RING] if v.isdigit()]
            continue
        if name == "Stack":  # "Stack = inuse / sys"
            inuse, _, sys = value.partition(" / ")
            if inuse.isdigit() and sys.isdigit():
                stats.stack_inuse, stats.stack_sys = int(inuse), int(sys)
            continue
        if attribute is None:
            continue
        try:
            _assign(stats, attribute, float(value))
        except ValueError:
            continue
    set_pauses(stats, ring)  # after the loop: the ring comes before NumGC, which indexes it
    return stats


def set_pauses(stats: MemStats, ring: list[int]) -> None:
    """The recent pauses from ``MemStats.PauseNs`` (a ring indexed by NumGC), newest last, and their percentiles
    the way ``debug.ReadGCStats`` computes ``PauseQuantiles`` (what client_golang's summary exports)."""
    count = min(stats.num_gc or 0, len(ring))
    if count == 0:
        return
    newest = (stats.num_gc or 0) - 1
    stats.gc_pauses_ns = tuple(ring[(newest - back) % len(ring)] for back in range(count))[::-1]
    recent = sorted(stats.gc_pauses_ns)
    pick = [recent[min(len(recent) - 1, len(recent) * i // 4)] for i in (2, 3)]
    stats.gc_pause_p50_seconds, stats.gc_pause_p75_seconds = pick[0] / 1e9, pick[1] / 1e9
    stats.gc_pause_max_seconds = recent[-1] / 1e9


def parse_prometheus_text(data: bytes | str) -> MemStats:
    """Prometheus text exposition (``/metrics``), parsed with prometheus_client, mapped onto MemStats."""
    from prometheus_client.parser import text_string_to_metric_families

    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    stats = MemStats(source="prometheus")
    try:
        for family in text_string_to_metric_families(_relevant_lines(text)):
            for sample in family.samples:
                attribute = PROMETHEUS_METRICS.get(sample.name)
                if sample.name == PAUSE_SUMMARY:
                    attribute = (
                        PAUSE_QUANTILES.get(sample.labels.get("quantile", ""), "")
                        if 0 <= sample.value < MAX_PAUSE_SECONDS
                        else ""
                    )
                elif sample.name == PAUSE_SUMMARY + "_sum":  # seconds, as MemStats.PauseTotalNs
                    _assign(stats, "pause_total_ns", sample.value * 1e9)
                if attribute:
                    _assign(stats, attribute, sample.value)
                elif sample.name == "go_info":
                    stats.go_version = sample.labels.get("version")
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        bad = _first_bad_line(text)
        raise ParseError(
            f"not Prometheus text exposition ({exc})", line=bad[0], data=bad[1], format_name="prometheus"
        ) from exc
    if stats.goroutines is None and stats.heap_alloc is None and stats.rss_bytes is None:
        raise ParseError(
            "no Go runtime metrics (go_goroutines, go_memstats_*, process_*) in this /metrics output",
            data=text[:60],
            format_name="prometheus",
        )
    return stats


_WANTED = frozenset([*PROMETHEUS_METRICS, PAUSE_SUMMARY, PAUSE_SUMMARY + "_sum", "go_info"])


def _relevant_lines(text: str) -> str:
    """Only the families MemStats uses: a service's /metrics is mostly its own metrics, and prometheus_client's
    parser costs ~4 µs a character, so filtering first makes a scrape several times cheaper."""
    kept = []
    for line in text.split("\n"):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE") and parts[2] in _WANTED:
                kept.append(line)
            continue
        end = len(line)
        for stop in ("{", " "):
            position = line.find(stop)
            if 0 <= position < end:
                end = position
        if line[:end] in _WANTED:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _first_bad_line(text: str) -> tuple[int, str]:
    from prometheus_client.parser import text_string_to_metric_families

    for number, line in enumerate(text.split("\n"), 1):
        relevant = _relevant_lines(line).strip()
        if not relevant:
            continue
        try:
            list(text_string_to_metric_families(relevant + "\n"))
        except (ValueError, TypeError, IndexError, KeyError):
            return number, line
    return 1, text[:60]
