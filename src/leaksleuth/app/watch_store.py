"""What the watcher writes to the store, run in its store thread: one transaction per target and round."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leaksleuth.analysis.goroutines.buckets import GoroutineSnapshot
from leaksleuth.app.instance import InstanceState
from leaksleuth.collect.scrape_config import ScrapeResult

if TYPE_CHECKING:
    from leaksleuth.store.db import Store


def record_result(
    store: Store,
    result: ScrapeResult,
    snapshot: GoroutineSnapshot | None,
    values: dict[str, float],
    state: InstanceState,
) -> None:
    """One target's round into the store, in one transaction: every body fetched, with its summary, and the values."""
    from leaksleuth.store.db import NewSnapshot  # the store is an extra: imported when there is one

    target_id = store.target_id(result.target.url, result.target.service, result.target.label_dict())
    stored: list[NewSnapshot] = []
    for fetched in result.fetched:
        summary: dict[str, float | int | str] = {}
        if fetched.kind in ("goroutine", "goroutine-dump") and snapshot is not None:
            summary["goroutines"] = snapshot.total
        if fetched.kind == "heap" and "heap_inuse" in values:
            summary["heap_inuse"] = values["heap_inuse"]
        stored.append(
            NewSnapshot(
                fetched.kind, str(fetched.parsed.format), fetched.data, summary, state.process_start, state.build_id
            )
        )
    store.record_round(target_id, result.taken_at, stored, values)


def record_failure(store: Store, result: ScrapeResult) -> None:
    """A round that fetched nothing: its status and error, so the store shows the gap."""
    target_id = store.target_id(result.target.url, result.target.service, result.target.label_dict())
    store.record_round(target_id, result.taken_at, [], {}, status=result.status, error=result.error)
