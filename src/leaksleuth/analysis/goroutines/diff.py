"""Growth by bucket between two goroutine snapshots (``leaksleuth goroutines diff A B``)."""

from __future__ import annotations

from dataclasses import dataclass

from leaksleuth.analysis.goroutines.buckets import GoroutineSnapshot, histories


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
    calls: str = ""  # strict similarity levels: the blocking call and its user-code callers, with arguments
    variants: int = 1  # buckets merged into this row: same blocking site and creator, different deeper stacks

    @property
    def delta(self) -> int:
        return self.target - self.base


def diff_snapshots(base: GoroutineSnapshot, target: GoroutineSnapshot) -> list[DiffRow]:
    """Every bucket of either snapshot, biggest growth first (then biggest shrink last).

    Buckets that differ only below the blocking frame (a recursion one level deeper, another middleware order)
    would be rows nobody can tell apart: they are one row, with ``variants`` saying how many stacks it holds and
    ``key`` the largest one's. Rows keep apart whatever is shown or compared: state, blocking site, creator, and
    the arguments at the strict similarity levels.
    """
    merged: dict[tuple[str, str, str, int, str | None, str], DiffRow] = {}
    largest: dict[tuple[str, str, str, int, str | None, str], tuple[int, int]] = {}
    for history in histories([base, target]):
        bucket = history.latest
        blocking = bucket.blocking
        row = DiffRow(
            history.key,
            history.counts[0],
            history.counts[1],
            bucket.state_class,
            blocking.function if blocking else "",
            blocking.file if blocking else "",
            blocking.line if blocking else 0,
            f"{bucket.created_by.function} {bucket.created_by.site()}" if bucket.created_by else None,
            bucket.calls,
        )
        shown = (row.state, row.function, row.file, row.line, row.created_by, row.calls)
        size = (row.target, row.base)
        kept = merged.get(shown)
        if kept is not None:
            key = row.key if size > largest[shown] else kept.key
            row = DiffRow(key, kept.base + row.base, kept.target + row.target, *shown, variants=kept.variants + 1)
        largest[shown] = max(size, largest.get(shown, size))
        merged[shown] = row
    rows = list(merged.values())
    rows.sort(key=lambda r: (-r.delta, -r.target, r.key))
    return rows
