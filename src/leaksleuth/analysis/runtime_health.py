"""Runtime configuration and GC health: findings that stand beside leak suspects and never feed their confidence.

- ``gomaxprocs-over-quota`` (class ``runtime-config``): GOMAXPROCS above the container's CPU quota (seed §2.1). Go
  before 1.25 sizes GOMAXPROCS from the host's cores and ignores the cgroup limit; Go 1.25+ follows the limit, so
  there it was set explicitly. More Ps than CPU time means CFS throttling: latency, and a GC that falls behind.
- ``gc-off``: the GC is disabled (GOGC=off) — with no GOMEMLIMIT, nothing bounds the heap.
- ``gc-goal-receding``: the seed's "NextGC keeps moving, NumGC barely grows, HeapAlloc climbs": the heap goal was
  pushed back while no more GCs ran than the runtime forces every 2 minutes.
- ``gc-long-pauses`` / ``gc-cpu-heavy``: stop-the-world pauses or GC CPU share beyond what a healthy service shows.

Pure: numbers in, ``model.runtime`` out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from leaksleuth.analysis.humanize import human_bytes, human_duration
from leaksleuth.model.memstats import MemStats
from leaksleuth.model.runtime import GcFacts, RuntimeFacts, RuntimeFinding

ADAPTIVE_GOMAXPROCS = (1, 25)  # Go 1.25: GOMAXPROCS follows the cgroup CPU limit
THROTTLED_NOTABLE = 0.05  # 5% of CFS periods throttled: the quota bites
# a quarter of the pauses at 10 ms or more is a GC that stalls the service; one pause alone must be far longer
# (a single 90 ms pause is what a descheduled process on a busy node shows)
LONG_PAUSE_SECONDS = 0.25
LONG_P75_SECONDS = 0.01
GC_CPU_HEAVY = 0.25  # a quarter of the CPU in the GC (its background target is 25% while it runs)
GOAL_RECEDE_SHARE = 0.10  # the goal moved up by 10% or more …
GOAL_RECEDE_BYTES = float(4 << 20)  # … and at least 4 MiB
FORCED_GC_SECONDS = 120.0  # the runtime forces a GC at least this often while the GC is enabled
GC_OFF_GOAL = float(1 << 60)  # NextGC reads ~8.9e18 when the GC is disabled
NO_LIMIT = float(1 << 62)  # GOMEMLIMIT unset = math.MaxInt64
_GO_VERSION = re.compile(r"go(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class CpuConfig:
    """What decides whether GOMAXPROCS fits: the runtime's setting and the container's CPU quota."""

    gomaxprocs: float | None = None
    quota_cores: float | None = None  # cfs_quota / cfs_period; None or <= 0: no quota
    throttled_share: float | None = None  # throttled periods / periods over the window
    throttled_periods: float | None = None
    go_version: str | None = None


def go_minor(version: str | None) -> tuple[int, int] | None:
    found = _GO_VERSION.search(version or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def gomaxprocs_finding(cpu: CpuConfig) -> RuntimeFinding | None:
    """GOMAXPROCS above the quota rounded up (a 2.5-CPU quota fits 3 Ps)."""
    if cpu.gomaxprocs is None or cpu.quota_cores is None or cpu.quota_cores <= 0:
        return None
    fits = max(1, math.ceil(cpu.quota_cores - 1e-9))
    if cpu.gomaxprocs <= fits:
        return None
    version = go_minor(cpu.go_version)
    adaptive = version is not None and version >= ADAPTIVE_GOMAXPROCS
    throttled = ""
    if cpu.throttled_share is not None:
        throttled = f"; {cpu.throttled_share:.0%} of CFS periods throttled"
    summary = f"GOMAXPROCS={cpu.gomaxprocs:.0f} but the container's CPU quota is {cpu.quota_cores:g} CPU{throttled}" + (
        " (set explicitly: Go 1.25+ would follow the limit)" if adaptive else ""
    )
    fix = [f"set GOMAXPROCS={fits} (e.g. from the pod's limits.cpu through a resourceFieldRef env var)"]
    if adaptive:
        fix.insert(0, "remove the explicit GOMAXPROCS / runtime.GOMAXPROCS call: Go 1.25+ follows the CPU limit")
    else:
        fix += ["upgrade to Go 1.25+ (GOMAXPROCS follows the cgroup CPU limit)", "or import go.uber.org/automaxprocs"]
    evidence = {
        "gomaxprocs": cpu.gomaxprocs,
        "cpu_quota_cores": cpu.quota_cores,
        "fits_gomaxprocs": fits,
        "throttled_share": cpu.throttled_share,
        "throttled_periods": cpu.throttled_periods,
        "go_version": cpu.go_version,
        "throttling": cpu.throttled_share is not None and cpu.throttled_share >= THROTTLED_NOTABLE,
    }
    return RuntimeFinding("runtime-config", "gomaxprocs-over-quota", summary, evidence, tuple(fix))


def gc_from_memstats(stats: MemStats) -> GcFacts:
    """One snapshot (``inspect``, a watch round): the GC's counts are since the process started."""
    goal = float(stats.next_gc) if stats.next_gc is not None else None
    alloc = float(stats.heap_alloc) if stats.heap_alloc is not None else None
    gogc = stats.gogc_percent
    if gogc is None and goal is not None and goal >= GC_OFF_GOAL:
        gogc = -1
    return GcFacts(
        pause_p50_seconds=stats.gc_pause_p50_seconds,
        pause_p75_seconds=stats.gc_pause_p75_seconds,
        pause_max_seconds=stats.gc_pause_max_seconds,
        cpu_fraction=stats.gc_cpu_fraction,
        cycles=stats.num_gc,
        next_gc_bytes=(goal, goal) if goal is not None else None,
        heap_alloc_bytes=(alloc, alloc) if alloc is not None else None,
        gogc_percent=gogc,
        gomemlimit_bytes=_limit(stats.gomemlimit_bytes),
    )


def _limit(value: float | None) -> float | None:
    return None if value is None or value >= NO_LIMIT else float(value)


def gc_findings(gc: GcFacts) -> list[RuntimeFinding]:
    found = [f for f in (_gc_off(gc), _goal_receding(gc)) if f]
    pauses = {
        "p50": gc.pause_p50_seconds,
        "p75": gc.pause_p75_seconds,
        "max": gc.pause_max_seconds,
    }
    long_max = gc.pause_max_seconds is not None and gc.pause_max_seconds >= LONG_PAUSE_SECONDS
    long_p75 = gc.pause_p75_seconds is not None and gc.pause_p75_seconds >= LONG_P75_SECONDS
    if long_max or long_p75:
        shown = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in pauses.items() if v is not None)
        found.append(
            RuntimeFinding(
                "gc-health",
                "gc-long-pauses",
                f"GC stop-the-world pauses: {shown}",
                {f"pause_{k}_seconds": v for k, v in pauses.items()},
                ("look for huge pointer-rich objects and many goroutines (stack scans)", "upgrade Go"),
            )
        )
    if gc.cpu_fraction is not None and gc.cpu_fraction >= GC_CPU_HEAVY:
        found.append(
            RuntimeFinding(
                "gc-health",
                "gc-cpu-heavy",
                f"the GC used {gc.cpu_fraction:.0%} of the CPU since the process started",
                {"cpu_fraction": gc.cpu_fraction, "gogc_percent": gc.gogc_percent},
                ("allocate less per request (pprof -sample_index=alloc_space)", "raise GOGC or set GOMEMLIMIT"),
            )
        )
    return found


def _gc_off(gc: GcFacts) -> RuntimeFinding | None:
    if gc.gogc_percent is None or gc.gogc_percent >= 0:
        return None
    bound = f"only GOMEMLIMIT={human_bytes(gc.gomemlimit_bytes)} bounds the heap" if gc.gomemlimit_bytes else ""
    summary = "the GC is off (GOGC=off): " + (bound or "nothing bounds the heap, it grows until the OOM killer")
    return RuntimeFinding(
        "gc-health",
        "gc-off",
        summary,
        {"gogc_percent": gc.gogc_percent, "gomemlimit_bytes": gc.gomemlimit_bytes},
        ("unset GOGC=off / debug.SetGCPercent(-1)", "if it is on purpose, set GOMEMLIMIT below the container limit"),
    )


def _goal_receding(gc: GcFacts) -> RuntimeFinding | None:
    """NextGC pushed back while NumGC stalls and HeapAlloc climbs (only over a window, never one snapshot)."""
    if gc.next_gc_bytes is None or gc.heap_alloc_bytes is None or gc.cycles is None or not gc.seconds:
        return None
    (goal_first, goal_last), (alloc_first, alloc_last) = gc.next_gc_bytes, gc.heap_alloc_bytes
    if goal_last >= GC_OFF_GOAL or goal_first >= GC_OFF_GOAL:
        return None
    goal_rise, alloc_rise = goal_last - goal_first, alloc_last - alloc_first
    forced = gc.seconds / FORCED_GC_SECONDS
    if goal_rise < max(GOAL_RECEDE_BYTES, GOAL_RECEDE_SHARE * goal_first) or alloc_rise < GOAL_RECEDE_BYTES:
        return None
    if gc.cycles > math.floor(forced) + 1:
        return None
    summary = (
        f"NextGC pushed back {human_bytes(goal_first)} → {human_bytes(goal_last)} while only {gc.cycles} GC(s) ran "
        f"in {human_duration(gc.seconds)} and HeapAlloc climbed {human_bytes(alloc_first)} → {human_bytes(alloc_last)}"
        ": what is allocated stays reachable"
    )
    return RuntimeFinding(
        "gc-health",
        "gc-goal-receding",
        summary,
        {
            "next_gc_first": goal_first,
            "next_gc_last": goal_last,
            "heap_alloc_first": alloc_first,
            "heap_alloc_last": alloc_last,
            "cycles": gc.cycles,
            "forced_cycles_expected": round(forced, 1),
            "seconds": gc.seconds,
        },
        ("take two heap profiles minutes apart and diff them (leaksleuth heap diff)",),
    )


def runtime_facts(gc: GcFacts | None, cpu: CpuConfig | None = None) -> RuntimeFacts | None:
    """The target's runtime findings (runtime-config first) and its GC numbers; None when there is nothing."""
    findings = [f for f in ([gomaxprocs_finding(cpu)] if cpu else []) if f]
    if gc is not None:
        findings += gc_findings(gc)
    if gc is None and not findings:
        return None
    return RuntimeFacts(tuple(findings), gc)
