"""The instance chart's data: one time axis, gaps as None, restarts from the start time and the counters."""

from __future__ import annotations

from leaksleuth.app.dashboard import chart_data


def test_chart_data_aligns_series_and_marks_restarts() -> None:
    series = {
        "goroutines": [(10.0, 5.0), (20.0, 7.0), (30.0, 3.0)],
        "heap_inuse": [(20.0, 1e6), (30.0, float("nan"))],
        "num_gc": [(10.0, 40.0), (20.0, 41.0), (30.0, 2.0)],  # went down at 30: a new process
        "process_start_seconds": [(10.0, 1000.0), (20.0, 1000.0), (30.0, 1000.5)],  # under a second: same one
    }
    data = chart_data(series)
    assert data["times"] == [10.0, 20.0, 30.0]
    assert data["goroutines"] == [5.0, 7.0, 3.0]
    assert data["heap_inuse"] == [None, 1e6, None]  # missing and NaN are gaps
    assert data["rss_bytes"] == [None, None, None]
    assert data["restarts"] == [30.0]


def test_a_moved_start_time_is_a_restart() -> None:
    data = chart_data({"process_start_seconds": [(10.0, 1000.0), (20.0, 1015.0)]})
    assert data["restarts"] == [20.0]
