"""debug=1 count and heap profiles: runtime totals, pprof's own reading of the same file, symbolisation."""

from __future__ import annotations

import contextlib
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaksleuth.errors import ParseError
from leaksleuth.formats.legacy import parse_count_profile, parse_heap_text
from tests.conftest import CAPTURES, captures, ids

COUNT_TEXT = [e for e in captures("debug1") if e["kind"] != "heap"]
# pprof's legacy reader rejects goroutineleak debug=1 ("malformed profile format"); we compare those with the proto
PPROF_READABLE = [e for e in COUNT_TEXT if e["kind"] != "goroutineleak"]
HEAP_TEXT = [e for e in captures("debug1") if e["kind"] == "heap"]


@pytest.mark.parametrize("entry", COUNT_TEXT, ids=ids(COUNT_TEXT))
def test_count_profile_frames_are_symbolised(entry: dict[str, object]) -> None:
    profile = parse_count_profile((CAPTURES / str(entry["file"])).read_bytes())
    for sample in profile:
        named = [line for loc in sample.locations for line in loc.lines]
        assert named or sample.values == (1,), sample  # the one empty record is a runtime quirk (see manifest)
        for line in named:
            assert line.function.name and line.function.filename and line.line > 0


@pytest.mark.parametrize("kind", ["goroutine", "goroutineleak"])
def test_count_profile_matches_the_proto_of_the_same_moment(kind: str) -> None:
    text = parse_count_profile((CAPTURES / f"parked.{kind}.debug1.txt").read_bytes())
    from leaksleuth.formats.pprof import parse_pprof

    proto = parse_pprof((CAPTURES / f"parked.{kind}.pb.gz").read_bytes())

    def user_sites(profile: object) -> Counter[tuple[str, int]]:
        out: Counter[tuple[str, int]] = Counter()
        for sample in profile:  # type: ignore[attr-defined]
            for loc in sample.locations:
                for line in loc.lines:
                    if line.function.name.startswith("main."):
                        # debug=1 prints generic shapes as [...], the proto names them: compare without
                        out[(re.sub(r"\[.*\]", "[...]", line.function.name), line.line)] += sample.values[0]
                        break
                else:
                    continue
                break
        return out

    assert user_sites(text) == user_sites(proto)


def test_heap_text_memstats_trailer() -> None:
    stats = parse_heap_text((CAPTURES / "heapkinds.heap.debug1.txt").read_bytes()).memstats
    assert stats is not None and stats.heap_alloc and stats.heap_inuse and stats.num_gc is not None
    assert stats.stack_inuse and stats.stack_sys and stats.max_rss_bytes


def test_bad_lines_name_the_line() -> None:
    text = "goroutine profile: total 2\n2 @ 0x1 0x2\n#\t0x0\tmain.f+0x1\t/a.go:1\nwhat is this\n"
    with pytest.raises(ParseError, match="line 4") as caught:
        parse_count_profile(text)
    assert "what is this" in str(caught.value)
    with pytest.raises(ParseError, match="line 1"):
        parse_heap_text("heap profile: nonsense\n")


def test_labels_in_count_profiles() -> None:
    text = (
        'goroutine profile: total 3\n3 @ 0x10 0x20\n# labels: {"handler":"/api", "user":"a\\"b"}\n'
        "#\t0xf\tmain.f+0x1\t/a.go:1\n"
    )
    (sample,) = list(parse_count_profile(text))
    assert [(label.key, label.str) for label in sample.labels] == [("handler", "/api"), ("user", 'a"b')]
    assert sample.locations[0].lines[0].function.name == "main.f"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_count_and_heap(text: str) -> None:
    for parser in (parse_count_profile, parse_heap_text):
        with contextlib.suppress(ParseError):
            parser("goroutine profile: total 1\n" + text if parser is parse_count_profile else text)


_HEAP = (CAPTURES / "heapkinds.heap.debug1.txt").read_text()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, len(_HEAP)))
def test_heap_text_prefixes(cut: int) -> None:
    with contextlib.suppress(ParseError):
        parse_heap_text(_HEAP[:cut])
