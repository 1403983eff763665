"""Per-instance watch state: restarts cut the history, series stay compact, findings are not repeated."""

from __future__ import annotations

from leaksleuth.analysis.goroutines import snapshot_from_dump
from leaksleuth.analysis.instance import InstanceState, series_suspects_to_keep
from leaksleuth.analysis.series import memstats_series
from leaksleuth.formats import parse
from leaksleuth.model.report import Suspect
from tests.conftest import CAPTURES

DUMP = parse((CAPTURES / "parked.goroutine.debug2.txt").read_bytes()).dump
METRICS = parse((CAPTURES / "parked.metrics.txt").read_bytes()).memstats


def _observe(state: InstanceState, at: float, **overrides: float) -> bool:
    assert DUMP is not None
    values = memstats_series(METRICS, len(DUMP.goroutines)) | overrides
    return state.observe(at, snapshot_from_dump(DUMP, taken_at=at), values, build_id=str(overrides.get("build", "b1")))


def test_restarts_from_start_time_counters_and_build() -> None:
    state = InstanceState("http://x", "svc")
    assert not _observe(state, 1.0, process_start_seconds=100.0, num_gc=10)
    assert not _observe(state, 2.0, process_start_seconds=100.0, num_gc=11)
    assert _observe(state, 3.0, process_start_seconds=250.0, num_gc=12)  # a new process start time
    assert _observe(state, 4.0, process_start_seconds=250.0, num_gc=2)  # a lifetime counter fell
    assert _observe(state, 5.0, process_start_seconds=250.0, num_gc=3, build=2.0)  # another binary
    assert state.restarts == 3
    assert state.window.last_segment() == 4  # only the newest process is judged


def test_series_buffer_is_bounded_and_aligned() -> None:
    state = InstanceState("http://x", "svc", max_snapshots=5)
    for at in range(8):
        _observe(state, float(at), heap_inuse=float(at * 10))
    series = state.to_series()
    assert series is not None and list(series.times) == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert list(series.values["heap_inuse"]) == [30.0, 40.0, 50.0, 60.0, 70.0]
    assert state.latest("heap_inuse") == 70.0 and len(state.window) == 5


def test_series_findings_that_repeat_a_located_suspect_are_dropped() -> None:
    located = [Suspect("goroutine", "chan-send", "main.f", "/a.go", 3, 0.9, "x")]
    series = [
        Suspect("goroutine", "goroutine-growth", "", "", 0, 0.9, "goroutines grow"),
        Suspect("heap", "non-heap-growth", "", "", 0, 0.8, "RSS outside the heap grows"),
        Suspect("heap", "heap-growth", "", "", 0, 0.8, "heap grows"),
    ]
    assert [s.category for s in series_suspects_to_keep(series, located)] == ["non-heap-growth", "heap-growth"]


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
