"""Growth by bucket between two goroutine snapshots (``leaksleuth goroutines diff A B``)."""

from __future__ import annotations

from dataclasses import dataclass

from leaksleuth.analysis.goroutines import GoroutineSnapshot, histories


@dataclass(frozen=True, slots=True)
class DiffRow:
    key: str
    base: int
    target: int
    state: str
    function: str
    file: str
    line: int
    created_by: str | None

    @property
    def delta(self) -> int:
        return self.target - self.base


def diff_snapshots(base: GoroutineSnapshot, target: GoroutineSnapshot) -> list[DiffRow]:
    """Every bucket of either snapshot, biggest growth first (then biggest shrink last)."""
    rows = []
    for history in histories([base, target]):
        bucket = history.latest
        blocking = bucket.blocking
        rows.append(
            DiffRow(
                history.key,
                history.counts[0],
                history.counts[1],
                bucket.state_class,
                blocking.function if blocking else "",
                blocking.file if blocking else "",
                blocking.line if blocking else 0,
                f"{bucket.created_by.function} {bucket.created_by.site()}" if bucket.created_by else None,
            )
        )
    rows.sort(key=lambda r: (-r.delta, -r.target, r.key))
    return rows
