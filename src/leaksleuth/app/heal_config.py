"""The policy of self-healing as the user sets it (``leaksleuth heal`` options), checked once at start."""

from __future__ import annotations

from dataclasses import dataclass

from leaksleuth.errors import ConfigError

ACTIONS = ("quarantine", "evict", "rollout-restart", "none")


@dataclass(slots=True)
class HealConfig:
    action: str = "none"  # none = dry run of the default remedy (quarantine)
    dry_run: bool = False
    keep: float = 300.0  # a quarantined pod stays this long for a person to inspect, then it is deleted
    heal_on: float = 0.9  # the verdict must name a leak at least this confident
    heal_at: float = 0.9  # trigger (b): memory at this fraction of the container limit
    rate: tuple[int, float] = (1, 60.0)  # actions per workload
    global_cap: tuple[int, float] = (10, 3600.0)  # actions on all workloads together
    breaker: tuple[int, float] = (3, 3600.0)  # this many on one workload open its circuit (no more there)
    allow_single: bool = False
    opt_in_namespaces: frozenset[str] = frozenset()
    samples: int = 3  # the capture before acting: as serve captures an alert
    every: float = 5.0
    timeout: float = 10.0
    evict_retry: float = 10.0  # a 429 from the Eviction API: wait this long and ask again…
    evict_attempts: int = 6  # …this many times
    in_flight_timeout: float = 600.0  # an action whose workload never settles stops blocking the next one

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(f"--action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        for name in ("heal_on", "heal_at"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be in (0, 1], got {getattr(self, name)}")
        if self.keep < 0 or self.samples < 1 or self.evict_attempts < 1:
            raise ConfigError("--keep must not be negative; samples and eviction attempts at least 1")

    @property
    def remedy(self) -> str:
        return "quarantine" if self.action == "none" else self.action

    @property
    def simulated(self) -> bool:
        return self.dry_run or self.action == "none"
