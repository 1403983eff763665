"""The self-healing policy options shared by ``heal --k8s`` and ``serve --heal``: one declaration, one builder.

Every option defaults to None (not given), so ``serve`` can refuse a policy given without ``--heal`` rather than
ignore it; the defaults themselves live in :class:`~leaksleuth.app.heal_config.HealConfig` and the help text.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated

import typer

from leaksleuth.cli.options import fraction

if TYPE_CHECKING:
    from leaksleuth.app.heal_config import HealConfig

Opt = typer.Option

Action = Annotated[
    str | None, Opt(help="quarantine, evict, rollout-restart, or none: a dry run of quarantine (default none).")
]
DryRun = Annotated[bool, Opt("--dry-run", help="Decide and record, change nothing.")]
Keep = Annotated[
    str | None, Opt(help="How long a quarantined pod is kept for inspection before deletion (default 5m).")
]
HealOn = Annotated[float | None, Opt(callback=fraction, help="Act on a verdict at least this confident (default 0.9).")]
HealAt = Annotated[
    float | None, Opt(callback=fraction, help="…with memory at this share of the container limit (default 0.9).")
]
Rate = Annotated[str | None, Opt(help="At most N actions per PERIOD on one workload (default 1/min).")]
MaxActions = Annotated[str | None, Opt(help="At most N actions per PERIOD on all workloads together (default 10/h).")]
Breaker = Annotated[
    str | None,
    Opt(help="After N actions per PERIOD on one workload its circuit opens: no more actions there (default 3/h)."),
]
AllowSingle = Annotated[bool, Opt("--allow-single", help="Act on single-replica workloads too.")]
OptInNamespace = Annotated[
    list[str] | None, Opt(help="Heal every pod of this namespace (else only pods annotated leaksleuth.io/heal).")
]


@dataclass(slots=True)
class HealOptions:
    """The policy options as given on the command line (None or False: not given)."""

    action: str | None = None
    dry_run: bool = False
    keep: str | None = None
    heal_on: float | None = None
    heal_at: float | None = None
    rate: str | None = None
    max_actions: str | None = None
    breaker: str | None = None
    allow_single: bool = False
    opt_in_namespace: list[str] | None = None

    def given(self) -> list[str]:
        """The options given, as the user spelled them (``--heal-on``)."""
        return ["--" + f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name) not in (None, False, [])]

    def config(self, *, samples: int, every: float, timeout: float) -> HealConfig:
        """The checked policy (a bad rate, action or duration is a ConfigError naming its option)."""
        from leaksleuth.app.heal_config import HealConfig
        from leaksleuth.app.heal_guards import parse_rate
        from leaksleuth.durations import parse_duration

        default = HealConfig()
        return HealConfig(
            action=self.action or default.action,
            dry_run=self.dry_run,
            keep=parse_duration(self.keep) if self.keep is not None else default.keep,
            heal_on=self.heal_on if self.heal_on is not None else default.heal_on,
            heal_at=self.heal_at if self.heal_at is not None else default.heal_at,
            rate=parse_rate(self.rate) if self.rate else default.rate,
            global_cap=parse_rate(self.max_actions, "--max-actions") if self.max_actions else default.global_cap,
            breaker=parse_rate(self.breaker, "--breaker") if self.breaker else default.breaker,
            allow_single=self.allow_single,
            opt_in_namespaces=frozenset(self.opt_in_namespace or ()),
            samples=samples,
            every=every,
            timeout=timeout,
        )
