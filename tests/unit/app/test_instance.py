"""Per-instance watch state: restarts cut every history at once, series stay compact, findings are not repeated."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from leaksleuth.analysis.goroutines.buckets import Window
from leaksleuth.analysis.goroutines.snapshots import snapshot_from_dump, snapshot_from_profile
from leaksleuth.analysis.heap.history import HeapHistory, HeapRow
from leaksleuth.analysis.heap.trend import HeapSnapshot, site_trends, trend_sample_index
from leaksleuth.analysis.ring import RingColumns
from leaksleuth.analysis.series.fleet import memstats_series
from leaksleuth.app.instance import InstanceState, Observation
from leaksleuth.formats import parse
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model.profile import Profile
from tests.conftest import CAPTURES

DUMP = parse((CAPTURES / "parked.goroutine.debug2.txt").read_bytes()).dump
METRICS = parse((CAPTURES / "parked.metrics.txt").read_bytes()).memstats
HEAP = (CAPTURES / "heapkinds.heap.pb.gz").read_bytes()
GROWN = (CAPTURES / "heapkinds.heap.grown.pb.gz").read_bytes()


def _observe(
    state: InstanceState,
    at: float,
    heap: bytes | Profile | None = None,
    max_goroutine_id: int | None = None,
    **overrides: float,
) -> bool:
    assert DUMP is not None
    values = memstats_series(METRICS, len(DUMP.goroutines)) | overrides
    build_id = str(overrides.get("build", "b1"))
    snapshot = snapshot_from_dump(DUMP, taken_at=at)
    if max_goroutine_id is not None:
        snapshot.max_goroutine_id = max_goroutine_id
    seen = Observation(at, snapshot, values, build_id=build_id)
    if heap is not None:
        profile = parse(heap).profile if isinstance(heap, bytes) else heap
        assert profile is not None
        seen.heap = HeapRow.of(profile)
        seen.reload_heap = functools.partial(parse_pprof, heap) if isinstance(heap, bytes) else lambda: profile
    return state.observe(seen)


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


def _heap_allocated_less() -> Profile:
    """The captured heap profile as a new process would serve it: the same in-use sites, lower lifetime totals."""
    profile = parse(HEAP).profile
    assert profile is not None
    for index, sample_type in enumerate(profile.sample_types):
        if sample_type.type.startswith("alloc_"):
            profile.samples.values[:, index] //= 2
    return profile


# a restart only one history could see: the metrics say nothing (same start time, counters rising), or are not there
@pytest.mark.parametrize(
    "seen_by",
    ["heap-lifetime-counters", "goroutine-ids"],
)
def test_a_restart_seen_by_one_signal_cuts_every_history_and_is_counted_once(seen_by: str) -> None:
    """Before the one RestartDetector, the heap's lifetime counters cut only the heap series (extra["restarts"] 0,
    extra["heap"]["restarts"] 1) and falling goroutine ids cut only the goroutine window (both 0, heap and series
    judged across the restart)."""
    state = InstanceState("http://x", "svc")
    for at, num_gc in ((1.0, 10.0), (2.0, 11.0)):
        assert not _observe(state, at, heap=HEAP, max_goroutine_id=500, num_gc=num_gc, process_start_seconds=100.0)
    if seen_by == "heap-lifetime-counters":
        assert _observe(state, 3.0, heap=_heap_allocated_less(), max_goroutine_id=500, num_gc=12.0)
    else:  # a round with nothing but the goroutines (no metrics, no heap profile this round): the ids tell
        seen = Observation(3.0, snapshot_from_dump(DUMP, taken_at=3.0), {"goroutines": 5.0})
        assert seen.snapshot is not None
        seen.snapshot.max_goroutine_id = 20
        assert state.observe(seen)
        # the next heap profile is of the new process: not compared with the old one's (that would count it twice)
        assert not _observe(state, 4.0, heap=_heap_allocated_less(), max_goroutine_id=25)
    report = state.report()
    assert report.extra["restarts"] == report.extra["heap"]["restarts"] == 1
    assert state.window.last_segment() == 2  # the goroutine window is cut at the same round
    assert report.extra["heap"]["snapshots_analysed"] == 1  # and the heap series: only the new process's profile
    series = state.to_series()
    assert series is not None and series.restarts == [False, False, True, *[False] * (len(series.times) - 3)]


def test_goroutine_ids_going_down_is_no_restart_when_the_metrics_say_the_same_process() -> None:
    """The highest goroutine id present falls whenever a server's newest goroutines exit (a scrape's connection):
    the first RestartDetector took that for a restart every few rounds of a live heap leak and cut its heap series
    to one snapshot, so the leak was never named."""
    state = InstanceState("http://x", "svc")
    for at, max_id in ((1.0, 47), (2.0, 21), (3.0, 31), (4.0, 25)):
        assert not _observe(state, at, heap=HEAP, max_goroutine_id=max_id, process_start_seconds=100.0, num_gc=at)
    assert state.restarts == 0 and state.heap.report("http://x").extra["heap"]["snapshots_analysed"] == 4


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


def test_column_store_reads_back_the_rows_appended() -> None:
    rows = [{1: 5}, {1: 6, 4: 7}, {}, {0: 1, 1: 3 << 33, 4: 7}]
    columns = RingColumns[int](4, {"time": "d"})
    for at, row in enumerate(rows):
        assert columns.append({"time": float(at)}, row) == []
    assert len(columns) == 4 and sorted(columns.columns) == [0, 1, 4]  # columns 2 and 3 hold nothing: no storage
    assert columns.matrix(range(5)).tolist() == [[row.get(key, 0) for key in range(5)] for row in rows]
    assert columns.columns[1].typecode == "q" and columns.columns[4].typecode == "i"  # 8 bytes only past 2**31
    for at in (4.0, 5.0, 6.0):  # past the capacity: the oldest row leaves every column at once
        assert columns.append({"time": at}, {}) == []
    assert len(columns) == 4 and list(columns.values("time")) == [3.0, 4.0, 5.0, 6.0]
    assert sorted(columns.append({"time": 7.0}, {})) == [0, 1, 4] and not columns.columns  # their last values left


def test_column_store_drops_a_key_when_its_last_value_leaves() -> None:
    columns = RingColumns[str](2, {"time": "d"})
    assert columns.append({"time": 1.0}, {"a": 1, "b": 2}) == []
    assert columns.append({"time": 2.0}, {"b": 3}) == []
    assert columns.append({"time": 3.0}, {"b": 4}) == ["a"]  # a's only count was in the row that left
    assert sorted(columns.columns) == ["b"] and list(columns.columns["b"]) == [3, 4]


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


def test_histories_keep_exactly_what_the_snapshots_hold() -> None:
    """The column-wise histories against the plain functions over the snapshots they keep: per-site series and
    trends (site_series/site_trends over the heap profiles), bucket counts (Window.of over the dumps)."""
    assert DUMP is not None
    heap, window = HeapHistory(6), Window(6)
    kept: list[HeapSnapshot] = []
    dumps = []
    for round_number in range(20):
        at = 60.0 * round_number
        profile = _growing_heap(round_number)
        if round_number == 13:  # told by the caller (the RestartDetector): every history cuts its series
            heap.start_over()
            window.start_over()
            kept = []
        heap.add(at, profile, reload=functools.partial(parse_pprof, HEAP))
        kept = [*kept, HeapSnapshot(at, profile)][-6:]
        snapshot = snapshot_from_dump(DUMP, taken_at=at)
        for position, bucket in enumerate(sorted(snapshot.buckets.values(), key=lambda b: b.key)):
            bucket.count += round_number * (position % 3)
        window.add(snapshot)
        dumps = [*dumps, snapshot][-6:]
        expected = site_trends(kept, trend_sample_index(profile, "inuse_space"))
        # (sites in another order: the history numbers them as first seen in it, not in the window)
        assert sorted((t.site.where(), t.values, t.confidence) for t in heap.trends()) == sorted(
            (t.site.where(), t.values, t.confidence) for t in expected
        )
        assert [t.site for t in heap.trends()][:3] == [t.site for t in expected][:3]  # the top ones are the same
        plain = Window.of(dumps)
        assert sorted((h.key, h.counts, h.times) for h in window.histories()) == sorted(
            (h.key, h.counts, h.times) for h in plain.histories()
        )
    assert heap.report("http://x").suspects  # the growth was judged, not skipped
    assert heap.restarts == 1 and window.last_segment() == 0  # the round that restarted has left the window
    stored = heap._rows.columns
    assert {c.typecode for c in stored.values()} == {"i", "q"} and len(stored) < len(heap.sites)


def test_a_leak_proof_holds_for_the_rounds_that_fetched_none_until_the_process_restarts() -> None:
    """The plan fetches goroutineleak only on growth and every few rounds: before the proof was carried, a round
    with only the goroutine profile showed the runtime-proven leak as unproven (the watch's top suspect vanished)."""
    proving = parse((CAPTURES / "parked.goroutineleak.debug2.txt").read_bytes()).dump
    counting = parse((CAPTURES / "parked.goroutine.pb.gz").read_bytes()).profile
    assert proving is not None and counting is not None
    values = memstats_series(METRICS, len(proving.goroutines)) | {"process_start_seconds": 100.0}
    state = InstanceState("http://x", "svc")
    first = snapshot_from_dump(proving, taken_at=1.0)
    state.observe(Observation(1.0, first, values))
    proven = sum(bucket.leaked for bucket in first.buckets.values())
    assert proven == sum(1 for g in proving.goroutines if g.leaked) > 0

    proto_only = snapshot_from_profile(counting, taken_at=2.0)
    assert not any(bucket.leaked for bucket in proto_only.buckets.values())
    state.observe(Observation(2.0, proto_only, values))
    assert sum(bucket.leaked for bucket in proto_only.buckets.values()) == proven
    [top, *_] = state.report().suspects  # judged as proven: unreachable, parked since the first round
    assert top.category == "parked-forever" and "proven unreachable" in top.summary
    unproven = InstanceState("http://y", "svc")  # the same round with no proof to carry: nothing to say
    unproven.observe(Observation(2.0, snapshot_from_profile(counting, taken_at=2.0), values))
    assert not unproven.report().suspects

    restarted = snapshot_from_profile(counting, taken_at=3.0)
    assert state.observe(Observation(3.0, restarted, values | {"process_start_seconds": 200.0}))
    assert not any(bucket.leaked for bucket in restarted.buckets.values())  # a new process: nothing proven yet
