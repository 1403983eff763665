"""Per-instance watch state: restarts cut the history, series stay compact, findings are not repeated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leaksleuth.analysis.goroutines.buckets import Window, snapshot_from_dump
from leaksleuth.analysis.heap.trend import HeapHistory
from leaksleuth.analysis.series.fleet import memstats_series
from leaksleuth.app.instance import (
    CompactHeapHistory,
    CompactWindow,
    InstanceState,
    SiteColumns,
)
from leaksleuth.formats import parse
from leaksleuth.model.profile import Profile
from tests.conftest import CAPTURES

DUMP = parse((CAPTURES / "parked.goroutine.debug2.txt").read_bytes()).dump
METRICS = parse((CAPTURES / "parked.metrics.txt").read_bytes()).memstats
HEAP = (CAPTURES / "heapkinds.heap.pb.gz").read_bytes()
GROWN = (CAPTURES / "heapkinds.heap.grown.pb.gz").read_bytes()


def _observe(state: InstanceState, at: float, heap: bytes | None = None, **overrides: float) -> bool:
    assert DUMP is not None
    values = memstats_series(METRICS, len(DUMP.goroutines)) | overrides
    build_id = str(overrides.get("build", "b1"))
    profile = parse(heap).profile if heap is not None else None
    return state.observe(
        at, snapshot_from_dump(DUMP, taken_at=at), values, build_id=build_id, heap=profile, heap_raw=heap
    )


def test_restarts_from_start_time_counters_and_build() -> None:
    state = InstanceState("http://x", "svc")
    assert not _observe(state, 1.0, process_start_seconds=100.0, num_gc=10)
    assert not _observe(state, 2.0, process_start_seconds=100.0, num_gc=11)
    assert _observe(state, 3.0, process_start_seconds=250.0, num_gc=12)  # a new process start time
    assert _observe(state, 4.0, process_start_seconds=250.0, num_gc=2)  # a lifetime counter fell
    assert _observe(state, 5.0, process_start_seconds=250.0, num_gc=3, build=2.0)  # another binary
    assert state.restarts == 3
    assert state.window.last_segment() == 4  # only the newest process is judged


# each signal alone: the same dump and heap profile every round, so nothing else can see a restart
@pytest.mark.parametrize(
    ("change", "restart"),
    [
        ({"process_start_seconds": 250.0}, True),  # another process start time
        ({"process_start_seconds": 100.4}, False),  # the same start, read with sub-second jitter
        ({"num_gc": 3.0}, True),  # a lifetime counter fell
        ({"total_alloc": 1000.0}, True),
        ({"num_gc": 99.0, "total_alloc": 9e9}, False),  # counters that rise are a running process
        ({"build": 2.0}, True),  # another binary
        ({}, False),
    ],
    ids=["start-time", "start-jitter", "num-gc-reset", "total-alloc-reset", "counters-rise", "build-id", "none"],
)
def test_each_restart_signal_cuts_goroutine_and_heap_history(change: dict[str, float], restart: bool) -> None:
    state = InstanceState("http://x", "svc")
    same = {"process_start_seconds": 100.0, "num_gc": 10.0, "total_alloc": 5e6}
    for at in (1.0, 2.0):
        assert not _observe(state, at, heap=HEAP, **same)
    assert _observe(state, 3.0, heap=HEAP, **(same | change)) is restart
    assert state.restarts == int(restart)
    assert state.heap.restarts == int(restart)  # the heap series is cut with the rest
    assert state.window.last_segment() == (2 if restart else 0)


def test_series_buffer_is_bounded_and_aligned() -> None:
    state = InstanceState("http://x", "svc", max_snapshots=5)
    for at in range(8):
        _observe(state, float(at), heap_inuse=float(at * 10))
    series = state.to_series()
    assert series is not None and list(series.times) == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert list(series.values["heap_inuse"]) == [30.0, 40.0, 50.0, 60.0, 70.0]
    assert state.latest("heap_inuse") == 70.0 and len(state.window) == 5


def test_watch_keeps_every_series_the_detectors_read() -> None:
    assert METRICS is not None and DUMP is not None
    values = memstats_series(METRICS, len(DUMP.goroutines))
    # non-heap growth compares stack_inuse with RSS: a watch must keep it, like fleet does
    assert values["stack_inuse"] == 491520.0 and values["goroutines"] == len(DUMP.goroutines)
    METRICS.gomemlimit_bytes = 64 << 20  # the GOMEMLIMIT forecast reads it (client_golang exports it when set)
    try:
        assert memstats_series(METRICS, None)["gomemlimit_bytes"] == float(64 << 20)
    finally:
        METRICS.gomemlimit_bytes = None


def test_site_columns_read_back_the_rows_appended() -> None:
    rows = [np.array(r, dtype=np.int64) for r in ([0, 5, 0], [0, 6, 0, 0, 7], [0, 0, 0, 0, 0], [1, 3 << 33, 0, 0, 7])]
    columns = SiteColumns()
    for row in rows:
        columns.append(row)
    assert len(columns) == 4 and sorted(columns.columns) == [0, 1, 4]  # columns 2 and 3 hold nothing: no storage
    assert [list(r) for r in columns] == [list(r) + [0] * (5 - r.size) for r in rows]
    assert columns.columns[1].typecode == "q" and columns.columns[4].typecode == "i"  # 8 bytes only past 2**31
    del columns[0]
    del columns[0]
    assert len(columns) == 2 and sorted(columns.columns) == [0, 1, 4]
    with pytest.raises(IndexError):
        del columns[1]


def _growing_heap(round_number: int) -> Profile:
    """The captured heap profile (from round 4 on, the grown one: sites that appear later) with a quarter of its
    samples growing in use, one site well past 2 GiB, and every ninth round half the samples freed. Lifetime
    counters keep rising: the only restart is the one the caller tells."""
    profile = parse(GROWN if round_number >= 4 else HEAP).profile
    assert profile is not None
    types = [t.type for t in profile.sample_types]
    inuse, alloc = (
        profile.samples.values[:, types.index("inuse_space")],
        profile.samples.values[:, types.index("alloc_space")],
    )
    rows = np.arange(len(inuse))
    inuse[rows % 4 == 1] *= 1 + round_number
    inuse[0] += (3 << 30) + round_number * (50 << 20)
    alloc += (1 << 20) * round_number
    if round_number % 9 == 8:
        inuse[rows % 2 == 0] = 0
    return profile


def test_compact_histories_judge_exactly_like_the_plain_ones() -> None:
    assert DUMP is not None
    plain_heap, compact_heap = HeapHistory(6), CompactHeapHistory(6)
    plain_window, compact_window = Window(6), CompactWindow(6)
    for round_number in range(20):
        at = 60.0 * round_number
        restarted = round_number == 13  # told by the caller (process start time): both cut their series
        for history in (plain_heap, compact_heap):
            history.add(at, _growing_heap(round_number), raw=HEAP, restarted=restarted)
        for window in (plain_window, compact_window):
            snapshot = snapshot_from_dump(DUMP, taken_at=at)
            for position, bucket in enumerate(sorted(snapshot.buckets.values(), key=lambda b: b.key)):
                bucket.count += round_number * (position % 3)
            window.add(snapshot, restarted=restarted)
        plain, compact = plain_heap.report("http://x"), compact_heap.report("http://x")
        assert json.dumps(compact.to_json(), sort_keys=True) == json.dumps(plain.to_json(), sort_keys=True)
        assert [(h.key, h.counts, h.times) for h in compact_window.histories()] == [
            (h.key, h.counts, h.times) for h in plain_window.histories()
        ]
    assert plain.suspects  # the growth was judged, not skipped
    assert compact_heap.restarts == plain_heap.restarts == 1
    kept = compact_heap.rows.columns
    assert {c.typecode for c in kept.values()} == {"i", "q"} and len(kept) < len(compact_heap.sites)
