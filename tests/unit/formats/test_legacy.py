"""debug=1 count and heap profiles: runtime totals, pprof's own reading of the same file, symbolisation."""

from __future__ import annotations

import contextlib
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaksleuth.analysis.heap.top import top
from leaksleuth.errors import ParseError
from leaksleuth.formats.legacy import parse_count_profile, parse_heap_text
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model.profile import Profile
from tests.conftest import CAPTURES, captures, ids
from tests.support.pprof_oracle import parse_raw, pprof_raw

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


def _printed_names(text: str) -> dict[int, str]:
    """Every PC a ``#`` line names anywhere in the file (read here with a regex, not with the parser)."""
    return {
        int(pc, 16): name.rpartition("+0x")[0] for pc, name in re.findall(r"^#\t+(0x[0-9a-f]+)\t+(\S+)", text, re.M)
    }


def _is_runtime(name: str | None) -> bool:
    return name is None or name.startswith(("runtime.", "internal/runtime/"))


def _kept_by_the_proto_writer(stack: tuple[int, ...], names: dict[int, str], *, heap: bool) -> tuple[int, ...]:
    """The Go source's rules, applied to pprof's own reading of the addresses: writeHeapProto drops the runtime
    frames on top (all of them kept when nothing else is left); both writers drop runtime.goexit, never printed."""
    if heap:
        first_user = next((i for i, pc in enumerate(stack) if not _is_runtime(names.get(pc))), None)
        stack = stack[first_user:] if first_user is not None else stack
    return tuple(pc for pc in stack if pc in names)


@pytest.mark.parametrize("entry", HEAP_TEXT + PPROF_READABLE, ids=ids(HEAP_TEXT + PPROF_READABLE))
def test_stacks_are_pprofs_addresses_less_what_the_runtime_hid(go: str, entry: dict[str, str]) -> None:
    """Values and addresses as ``go tool pprof -raw`` reads the file, minus the frames the runtime did not print."""
    path = CAPTURES / entry["file"]
    text = path.read_text()
    heap = entry["kind"] == "heap"
    profile = parse_heap_text(text).profile if heap else parse_count_profile(text)
    names = _printed_names(text)
    expected: Counter[tuple[tuple[int, ...], tuple[int, ...]]] = Counter()
    for (values, stack, _labels), count in parse_raw(pprof_raw(go, path)).items():
        addresses = tuple(frame for frame in stack if isinstance(frame, int))
        assert len(addresses) == len(stack), "pprof cannot symbolise debug=1 text: every frame is an address"
        expected[(values, _kept_by_the_proto_writer(addresses, names, heap=heap))] += count
    ours = Counter((sample.values, tuple(loc.address for loc in sample.locations)) for sample in profile)
    assert ours == expected


def _flat_by_function(profile: Profile) -> dict[str, int]:
    table = top(profile, node_fraction=0)
    return {row.name: row.flat for row in table.rows if row.flat}


def test_heap_text_flat_lands_on_the_functions_the_proto_names() -> None:
    """The debug=1 text and the proto of the same process: every allocating user function keeps its flat.

    Before: the allocator frames the runtime hides stayed as address-only locations, and ``<unknown>`` took 94% of
    the flat (main.allocSlices 0)."""
    text = _flat_by_function(parse_heap_text((CAPTURES / "heapkinds.heap.debug1.txt").read_bytes()).profile)
    proto = _flat_by_function(parse_pprof((CAPTURES / "heapkinds.heap.pb.gz").read_bytes()))
    assert "<unknown>" not in text
    user = {name for name, flat in proto.items() if name.startswith("main.") and flat}
    assert len(user) >= 5 and {name for name in text if name.startswith("main.")} == user
    total = sum(text.values())
    top_five = sorted(text, key=lambda name: -text[name])[:5]
    assert top_five == sorted(proto, key=lambda name: -proto[name])[:5]
    assert text["main.allocSlices"] > 0.3 * total


@pytest.mark.parametrize("entry", COUNT_TEXT, ids=ids(COUNT_TEXT))
def test_count_text_flat_lands_on_named_frames(entry: dict[str, str]) -> None:
    """goroutine debug=1 hides the parking frames (gopark…) on top: the flat goes to the first printed frame."""
    profile = parse_count_profile((CAPTURES / entry["file"]).read_bytes())
    flat = _flat_by_function(profile)
    assert "<unknown>" not in flat and sum(flat.values()) >= sum(profile.totals()) - 1  # the one empty record
    for location in profile.locations:  # a recursive frame is printed once per call, but is one line
        assert len(location.lines) == 1, location


def test_hidden_frames_named_elsewhere_goexit_and_virtual_pcs() -> None:
    """A synthetic file with each rule once: 0x11 (runtime, hidden on top of the first record) is printed by the
    all-runtime record; 0x99 (runtime.goexit) never is; 0x31 names a virtual PC of a caller inlined at 0x20."""
    records = (
        "{v} @ 0x11 0x21 0x99\n#\t0x20\tmain.inner+0x4\t/m.go:3\n#\t0x31\tmain.outer+0x9\t/m.go:9\n\n"
        "{v} @ 0x11 0x41\n#\t0x10\truntime.mallocgc+0x1\t/malloc.go:1\n#\t0x40\truntime.main+0x2\t/proc.go:2\n\n"
    )
    count = parse_count_profile("goroutine profile: total 2\n" + records.format(v="1"))
    heap = parse_heap_text("heap profile: 2: 2 [2: 2] @ heap/2\n" + records.format(v="1: 1 [1: 1]")).profile

    def stacks(profile: Profile) -> list[list[list[str]]]:
        return [[[line.function.name for line in loc.lines] for loc in sample.locations] for sample in profile]

    # the count proto keeps runtime frames; the heap proto drops those on top; all-runtime stacks stay whole
    assert stacks(count) == [
        [["runtime.mallocgc"], ["main.inner", "main.outer"]],
        [["runtime.mallocgc"], ["runtime.main"]],
    ]
    assert stacks(heap) == [[["main.inner", "main.outer"]], [["runtime.mallocgc"], ["runtime.main"]]]


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


def test_count_text_cut_at_a_line_boundary_is_flagged() -> None:
    text = (CAPTURES / "parked.goroutine.debug1.txt").read_text()
    cut = "".join(text.splitlines(keepends=True)[:30])  # ends with a newline: nothing looks cut mid-line
    profile = parse_count_profile(cut)
    counted = sum(int(sample.values[0]) for sample in profile)
    assert counted < 33 and profile.comments == [f"truncated: header says 33, records hold {counted}"]
    assert parse_count_profile(text).comments == []


def test_a_line_cut_short_is_dropped_not_misread() -> None:
    text = (CAPTURES / "parked.goroutine.debug1.txt").read_text()
    last_frame = text.rindex(".go:")  # cut inside a file:line: "main.go:128" must not become "main.go:1"
    profile = parse_count_profile(text[: last_frame + 5])
    assert profile.comments and profile.comments[0].startswith("truncated")
    whole = {(line.function.name, line.line) for loc in parse_count_profile(text).locations for line in loc.lines}
    cut = {(line.function.name, line.line) for loc in profile.locations for line in loc.lines}
    assert cut <= whole
    heap = (CAPTURES / "heapkinds.heap.debug1.txt").read_text()
    assert "truncated: the text ends mid-line" in parse_heap_text(heap[:3000]).profile.comments


def test_a_sampling_rate_too_large_to_scale_by_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"sampling rate \d+ is too large"):
        parse_heap_text("heap profile: 1: 2 [3: 4] @ heap/99999999999999999999999\n1: 2 [3: 4] @ 0x1\n")


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
