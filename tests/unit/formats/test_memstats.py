"""expvar /debug/vars, Prometheus /metrics and the heap trailer all land on the same MemStats fields."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaksleuth.errors import ParseError
from leaksleuth.formats.memstats import parse_expvar, parse_prometheus_text
from tests.conftest import CAPTURES, captures, ids
from tests.support.mutations import damaged_capture, seed

EXPVAR = captures("expvar")
PROMETHEUS = captures("prometheus")


@pytest.mark.parametrize("entry", EXPVAR, ids=ids(EXPVAR))
def test_expvar(entry: dict[str, object]) -> None:
    data = (CAPTURES / str(entry["file"])).read_bytes()
    stats = parse_expvar(data)
    raw = json.loads(data)["memstats"]
    assert stats.heap_alloc == raw["HeapAlloc"] and stats.heap_inuse == raw["HeapInuse"]
    assert stats.next_gc == raw["NextGC"] and stats.num_gc == raw["NumGC"]
    assert stats.sys == raw["Sys"] and stats.source == "expvar"


@pytest.mark.parametrize("entry", PROMETHEUS, ids=ids(PROMETHEUS))
def test_prometheus(entry: dict[str, object]) -> None:
    stats = parse_prometheus_text((CAPTURES / str(entry["file"])).read_bytes())
    assert stats.goroutines is not None and stats.goroutines > 0
    assert stats.heap_alloc and stats.heap_inuse and stats.rss_bytes and stats.next_gc
    assert stats.process_start_seconds and stats.process_start_seconds > 1.6e9
    assert stats.go_version and stats.go_version.startswith("go1.")
    if entry.get("goroutines") is not None:
        assert stats.goroutines == entry["goroutines"]


def test_prometheus_errors_name_the_line() -> None:
    with pytest.raises(ParseError, match="line 2"):
        parse_prometheus_text("go_goroutines 3\ngo_threads{ 1 2 3\n")
    assert parse_prometheus_text("go_goroutines 3\nmy_app_broken{ 1 2 3\n").goroutines == 3  # not ours: ignored
    with pytest.raises(ParseError, match="no Go runtime metrics"):
        parse_prometheus_text("http_requests_total 3\n")


def test_expvar_errors() -> None:
    with pytest.raises(ParseError, match="not JSON"):
        parse_expvar(b"{nope")
    with pytest.raises(ParseError, match="memstats"):
        parse_expvar(b'{"cmdline": []}')


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz(text: str) -> None:
    for parser in (parse_expvar, parse_prometheus_text):
        with contextlib.suppress(ParseError):
            parser(text)


_SEEDS = {str(entry["file"]): seed(str(entry["file"])) for entry in EXPVAR + PROMETHEUS}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_capture(_SEEDS))
def test_fuzz_damaged_captures(case: tuple[str, bytes]) -> None:
    """Random text rarely looks like JSON or an exposition; damaged real captures get into both parsers."""
    name, data = case
    parser = parse_expvar if name.endswith(".json") else parse_prometheus_text
    with contextlib.suppress(ParseError):
        parser(data)


def test_expvar_nested_too_deep_is_a_parse_error() -> None:
    deep = b'{"memstats": {}, "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(ParseError, match="nested more than") as caught:
        parse_expvar(deep)
    assert caught.value.offset is not None and 22 < caught.value.offset < 22 + 1000


def test_expvar_numbers_beyond_a_float_are_skipped() -> None:
    huge = "1" + "0" * 400
    stats = parse_expvar(f'{{"memstats": {{"HeapAlloc": {huge}, "NumGC": 3, "GCCPUFraction": {huge}}}, "x": {huge}}}')
    assert stats.heap_alloc is None and stats.num_gc == 3 and stats.gc_cpu_fraction is None and "x" not in stats.extra


def test_prometheus_pause_quantile_beyond_an_hour_is_dropped() -> None:
    # found by the damaged-capture fuzz: a digit run pasted into a quantile made the p75 pause 1e25 s
    page = (CAPTURES / "parked.metrics.txt").read_text()
    assert 'go_gc_duration_seconds{quantile="0.75"} 0.000167359' in page
    damaged = page.replace('quantile="0.75"} 0.000167359', 'quantile="0.75"} 9999999999999999999999999.000167359')
    stats = parse_prometheus_text(damaged)
    assert stats.gc_pause_p75_seconds is None
    assert stats.gc_pause_p50_seconds == pytest.approx(0.000114676)  # the other quantiles stay
