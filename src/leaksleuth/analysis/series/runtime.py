"""Runtime configuration and GC health of one instance from its series (``fleet``, ``watch``): the latest process's
segment read into ``analysis.runtime_health``'s inputs. Never feeds a suspect's confidence."""

from __future__ import annotations

from leaksleuth.analysis.runtime_health import CpuConfig, runtime_facts
from leaksleuth.analysis.series.signals import Segment, latest_level
from leaksleuth.model.runtime import GcFacts, RuntimeFacts

# the series beside the leak detectors' (names of MemStats attributes where there is one)
RUNTIME_SERIES = (
    "gomaxprocs",
    "gogc_percent",
    "gc_pause_p50_seconds",
    "gc_pause_p75_seconds",
    "gc_pause_max_seconds",
    "gc_cpu_fraction",
    "pause_total_ns",
    "container_cpu_quota",  # cAdvisor: cfs_quota_us (microseconds per period); absent or <= 0 without a limit
    "container_cpu_period",
    "container_cpu_throttled_periods",  # counters
    "container_cpu_periods",
)


def series_runtime(segment: Segment | None, go_version: str | None = None) -> RuntimeFacts | None:
    if segment is None:
        return None
    return runtime_facts(_gc(segment), _cpu(segment, go_version))


def _ends(segment: Segment, name: str) -> tuple[float, float] | None:
    found = segment.finite(name)
    return (float(found[1][0]), float(found[1][-1])) if found is not None else None


def _delta(segment: Segment, name: str) -> float | None:
    ends = _ends(segment, name)
    return ends[1] - ends[0] if ends is not None else None


def _span(segment: Segment, name: str) -> float | None:
    found = segment.finite(name)
    return float(found[0][-1] - found[0][0]) if found is not None else None


def _gc(segment: Segment) -> GcFacts | None:
    cycles, seconds = _delta(segment, "num_gc"), _span(segment, "num_gc")
    paused, paused_over = _delta(segment, "pause_total_ns"), _span(segment, "pause_total_ns")
    gogc, limit = latest_level(segment, "gogc_percent"), latest_level(segment, "gomemlimit_bytes")
    facts = GcFacts(
        pause_p50_seconds=latest_level(segment, "gc_pause_p50_seconds"),
        pause_p75_seconds=latest_level(segment, "gc_pause_p75_seconds"),
        pause_max_seconds=latest_level(segment, "gc_pause_max_seconds"),
        cpu_fraction=latest_level(segment, "gc_cpu_fraction"),
        stw_fraction=paused / 1e9 / paused_over if paused is not None and paused_over else None,
        cycles=round(cycles) if cycles is not None else None,
        seconds=seconds,
        next_gc_bytes=_ends(segment, "next_gc"),
        heap_alloc_bytes=_ends(segment, "heap_alloc"),
        gogc_percent=round(gogc) if gogc is not None else None,
        gomemlimit_bytes=limit if limit is not None and limit < float(1 << 62) else None,
    )
    return facts if any(v is not None for v in facts.to_json().values()) else None


def _cpu(segment: Segment, go_version: str | None) -> CpuConfig:
    quota, period = latest_level(segment, "container_cpu_quota"), latest_level(segment, "container_cpu_period")
    throttled, periods = _delta(segment, "container_cpu_throttled_periods"), _delta(segment, "container_cpu_periods")
    return CpuConfig(
        gomaxprocs=latest_level(segment, "gomaxprocs"),
        quota_cores=quota / period if quota and period and quota > 0 else None,
        throttled_share=throttled / periods if throttled is not None and periods else None,
        throttled_periods=throttled,
        go_version=go_version,
    )
