"""The memory budget of the pprof reader (issue 12, item 9): a few KB of gzip that inflate into millions of empty
samples or table entries are refused with a ParseError, holding little meanwhile; real profiles are read the same
whichever way the reader finds their samples."""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pytest

from leaksleuth.errors import ParseError
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.formats.pprof_write import write_pprof
from leaksleuth.model.profile import Function, Line, Location, Profile, SampleTable, ValueType
from tests.conftest import CAPTURES, captures, ids
from tests.support.pprof_oracle import ours

PROTO = captures("proto")
_STRINGS = b"".join(bytes([0x32, len(s)]) + s for s in (b"", b"samples", b"count"))
_SAMPLE_TYPE = b"\x0a\x04\x08\x01\x10\x02"  # ValueType{type: "samples", unit: "count"}


def empty_samples(count: int) -> bytes:
    """gzip of a valid profile: ``count`` samples of one value 0 and no stack, 4 bytes each on the wire."""
    return gzip.compress(_SAMPLE_TYPE + b"\x12\x02\x10\x00" * count + _STRINGS, mtime=0)


def test_millions_of_empty_samples_are_refused_holding_less_than_the_budget() -> None:
    bomb = empty_samples(3_000_000)  # 12 MB inflated, 60 MB as a model
    assert len(bomb) < 20_000
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match=r"refused: at least [\d,]+ samples .* over the memory budget") as caught:
            parse_pprof(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "4x its size" in str(caught.value) and "12,000,024 bytes" in str(caught.value)
    assert peak < 4 * 12_000_024 + (8 << 20)  # the budget, plus the inflated input itself held by gunzip


def test_millions_of_locations_are_refused_before_python_objects_are_made() -> None:
    locations = b"\x22\x02\x18\x01" * 2_000_000  # Location{address: 1}: 4 bytes each, ~300 as Python objects
    bomb = gzip.compress(_SAMPLE_TYPE + locations + _STRINGS, mtime=0)
    with pytest.raises(ParseError, match=r"refused: 2,000,000 locations.* over the memory budget"):
        parse_pprof(bomb)


def test_a_few_empty_samples_are_a_profile() -> None:
    profile = parse_pprof(empty_samples(1000))
    assert len(profile.samples) == 1000 and profile.totals() == [0]


def test_deep_stacks_with_one_byte_location_ids_fit_the_budget() -> None:
    """The densest real stacks: 100 frames of 1-byte ids per sample are 4x as many bytes in the model as on the
    wire, the limit of what the budget must let through."""
    function = Function(1, "main.recurse", "main.recurse", "/src/main.go")
    locations = [Location(i, None, 0x1000 + i, (Line(function, i),)) for i in range(1, 101)]
    count, depth = 20_000, 100
    table = SampleTable(
        np.ones((count, 1), dtype=np.int64),
        np.arange(0, (count + 1) * depth, depth, dtype=np.int64),
        np.tile(np.arange(depth, dtype=np.int32), count),
        np.zeros(count, dtype=np.int32),
        [()],
    )
    written = write_pprof(Profile([ValueType("samples", "count")], table, locations, [function]))
    for walk in (False, True):
        again = parse_pprof(written, walk_top_level=walk)
        assert len(again.samples) == count and again.samples.loc_index.size == count * depth


@pytest.mark.parametrize("entry", PROTO, ids=ids(PROTO))
def test_the_top_level_walk_reads_what_upb_reads(entry: dict[str, object]) -> None:
    data = (CAPTURES / str(entry["file"])).read_bytes()
    walked, decoded = parse_pprof(data, walk_top_level=True), parse_pprof(data, walk_top_level=False)
    assert ours(walked) == ours(decoded)
    assert (walked.locations, walked.functions, walked.mappings) == (
        decoded.locations,
        decoded.functions,
        decoded.mappings,
    )
    assert (walked.sample_types, walked.comments, walked.period) == (
        decoded.sample_types,
        decoded.comments,
        decoded.period,
    )


@pytest.mark.parametrize("walk", [False, True])
def test_errors_name_the_same_sample_whichever_way_it_was_found(walk: bool) -> None:
    ten_frames = b"\x12\x0e\x0a\x0a" + b"\x01" * 10 + b"\x10\x01"  # 10 frames of location 1, value 1
    location = b"\x22\x02\x08\x01"  # Location{id: 1}
    bad_location = _SAMPLE_TYPE + ten_frames * 70_000 + b"\x12\x04\x08\x07\x10\x01" + location + _STRINGS
    with pytest.raises(ParseError, match="sample 70000 refers to unknown location id 7"):
        parse_pprof(bad_location, walk_top_level=walk)
