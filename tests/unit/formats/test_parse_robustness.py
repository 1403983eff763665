"""Every parser, fed real captures cut short or mutated, raises ParseError (naming where) or parses: never a bare
exception. The mutations start from real captures so that they get past the header checks into the parsers."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaksleuth.errors import ParseError
from leaksleuth.formats import Format, parse, sniff
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model.profile import SampleTable
from tests.conftest import CAPTURES, captures
from tests.support.invariants import check_parsed
from tests.support.mutations import damaged, damaged_capture, seed
from tests.support.pprof_oracle import ours


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("goroutine profile: total 5\n99999999999999999999999 @ 0x1\n", "99999999999999999999999"),
        ("heap profile: 1: 2 [3: 4] @ heap/1024\n1: 99999999999999999999999 [3: 4] @ 0x1\n", "9999999999999"),
    ],
)
def test_debug1_values_beyond_int64_are_parse_errors(text: str, value: str) -> None:
    with pytest.raises(ParseError, match="beyond the 64-bit range") as caught:
        parse(text.encode())
    assert value in str(caught.value)


def test_sample_values_at_the_int64_limits_are_kept() -> None:
    table = SampleTable.from_rows(2, [([], [(1 << 63) - 1, -(1 << 63)], ())])
    assert table.values.tolist() == [[(1 << 63) - 1, -(1 << 63)]]
    with pytest.raises(ParseError, match="sample 1 has a value beyond"):
        SampleTable.from_rows(1, [([], [1], ()), ([], [1 << 63], ())])


# ---- recognising input ------------------------------------------------------------------------------------------

_LOG = "".join(f"2026/11/27 21:38:29 INFO request id={i:06d} path=/api/v1/items status=200\n" for i in range(2000))


@pytest.mark.parametrize("compress", [False, True])
def test_a_crash_log_with_a_long_log_before_the_panic_is_a_dump(compress: bool) -> None:
    crash = (CAPTURES / "panicker.panic.txt").read_text()
    data = (_LOG + crash).encode()
    assert len(_LOG) > 128 << 10
    data = gzip.compress(data) if compress else data
    assert sniff(data) is Format.GOROUTINE_DUMP
    parsed = parse(data)
    assert parsed.dump is not None and len(parsed.dump.goroutines) == 9 and not parsed.dump.truncated
    assert parsed.dump.panic_message is not None and parsed.compressed == compress


def test_a_log_without_a_dump_is_still_unrecognised() -> None:
    with pytest.raises(ParseError, match="unrecognised input"):
        parse((_LOG + "goroutine 5 is not a header\n  goroutine 6 [chan send]: is indented\n").encode())


# ---- damaged captures -------------------------------------------------------------------------------------------


def _format(entry: dict[str, Any]) -> Format:
    if entry["format"] == "debug1":
        return Format.HEAP_TEXT if entry["kind"] == "heap" else Format.COUNT_TEXT
    named = {"proto": Format.PPROF, "expvar": Format.EXPVAR, "prometheus": Format.PROMETHEUS}
    return named.get(entry["format"], Format.GOROUTINE_DUMP)


_FORMATS = {str(entry["file"]): _format(entry) for entry in captures()}
_SEEDS = {name: seed(name) for name in _FORMATS}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_capture(_SEEDS))
def test_damaged_captures_raise_parse_errors_or_parse_into_a_valid_model(case: tuple[str, bytes]) -> None:
    """Sniffed, and forced to the capture's own format so that a damaged header does not end the test early. A
    parse that succeeds keeps the model's promises (types, references, sums: ``tests.support.invariants``)."""
    name, data = case
    for forced in (None, _FORMATS[name]):
        _parses_or_refuses(data, forced)


def _parses_or_refuses(data: bytes, forced: Format | None) -> None:
    try:
        parsed = parse(data, format=forced)
    except ParseError:
        return
    check_parsed(parsed)


@pytest.mark.parametrize("name", sorted(_FORMATS))
def test_every_capture_parses_into_a_valid_model(name: str) -> None:
    check_parsed(parse((CAPTURES / name).read_bytes()))


def test_the_invariants_catch_a_broken_model() -> None:
    """The checker itself can fail: a model whose references or sums are off does not pass it."""
    parsed = parse((CAPTURES / "heapkinds.heap.pb.gz").read_bytes())
    assert parsed.profile is not None
    parsed.profile.samples.loc_index[0] = len(parsed.profile.locations)  # a frame pointing past the table
    with pytest.raises(AssertionError):
        check_parsed(parsed)
    dump = parse((CAPTURES / "parked.goroutine.debug2.txt").read_bytes())
    assert dump.dump is not None
    dump.dump.goroutines[-1].truncated = True  # a cut last goroutine in a dump that says it is whole
    with pytest.raises(AssertionError):
        check_parsed(dump)


_PROTO = gzip.compress(seed("heapkinds.heap.pb.gz"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(damaged(_PROTO), damaged(_PROTO + gzip.compress(b"second member"))))
def test_damaged_gzip_raises_parse_errors_or_parses_into_a_valid_model(data: bytes) -> None:
    _parses_or_refuses(data, None)
    _parses_or_refuses(data, Format.PPROF)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(seed("heapkinds.heap.pb.gz")))
def test_the_top_level_walk_and_upb_agree_on_damaged_profiles(data: bytes) -> None:
    """The reader finds samples with upb, or with its own top-level walk when upb could hold too much: both must
    read a damaged profile alike, the same model or the same error."""
    outcomes = []
    for walk in (False, True):
        try:
            profile = parse_pprof(data, walk_top_level=walk)
        except ParseError as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append(repr(ours(profile)))
    assert outcomes[0] == outcomes[1]
