"""Allocation sites, kinds, size classes, clusters and leak paths on the real heapkinds captures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaksleuth.analysis.heap import kinds as heap_kinds
from leaksleuth.analysis.heap.kinds import infer_kind, size_class, size_classes
from leaksleuth.analysis.heap.paths import clusters, leak_paths
from leaksleuth.analysis.heap.sites import annotate
from leaksleuth.analysis.heap.top import Granularity, top
from leaksleuth.analysis.symbols import detect_goroot, is_go_distribution
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model import profile_ops
from leaksleuth.model.profile import Profile
from tests.conftest import CAPTURES, ROOT

SOURCE = ROOT / "testdata" / "go" / "heapkinds" / "main.go"  # this checkout's copy of the captured program
BASE = CAPTURES / "heapkinds.heap.pb.gz"
GROWN = CAPTURES / "heapkinds.heap.grown.pb.gz"


def load(path: Path) -> Profile:
    return parse_pprof(path.read_bytes())


# the path as the capture recorded it (wherever `make fixtures` ran), which need not be this checkout
HEAPKINDS = next(f.filename for f in load(BASE).functions if f.filename.endswith("testdata/go/heapkinds/main.go"))


def line_of(text: str) -> int:
    for number, line in enumerate(SOURCE.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} is not in {SOURCE}")


def checkout_source_lines(profile: Profile) -> dict[tuple[str, int], str]:
    """Source text for the recorded paths, read from this checkout (the capture may come from another path)."""
    text = SOURCE.read_text().splitlines()
    return {
        (line.function.filename, line.line): text[line.line - 1]
        for location in profile.locations
        for line in location.lines
        if line.function.filename == HEAPKINDS and 0 < line.line <= len(text)
    }


def site_values(profile: Profile) -> dict[tuple[str, int], int]:
    annotation = annotate(profile)
    values = profile.samples.values[:, 3]
    totals: dict[tuple[str, int], int] = {}
    for site_id, value in zip(annotation.site_ids.tolist(), values.tolist(), strict=True):
        site = annotation.sites[site_id]
        key = (site.function, site.line)
        totals[key] = totals.get(key, 0) + value
    return totals


def test_goroot_and_standard_library_are_plumbing() -> None:
    profile = load(BASE)
    goroot = detect_goroot(profile)
    assert goroot.endswith("/go")
    assert any(f.filename.startswith(f"{goroot}/src/runtime/") for f in profile.functions)
    assert is_go_distribution("strings.(*Builder).WriteString", f"{goroot}/src/strings/builder.go", goroot)
    assert not is_go_distribution("main.buildStrings", str(HEAPKINDS), goroot)
    assert not is_go_distribution("github.com/acme/cache.(*LRU).Add", "cache/lru.go", "")  # -trimpath build
    assert is_go_distribution("net/http.(*conn).serve", "net/http/server.go", "")
    # a dotless module (`module myapp`) built with -trimpath is user code, not the standard library
    assert not is_go_distribution("myapp/cache.(*LRU).Add", "myapp/cache/lru.go", "")
    assert is_go_distribution("vendor/golang.org/x/net/http2/hpack.(*Decoder).Write", "vendor/hpack.go", "")


def test_user_sites_match_pprof_lines_totals(go: str) -> None:
    """Sites are user lines: a site's total equals pprof's flat at that line when nothing is inlined above it."""
    profile = load(BASE)
    totals = site_values(profile)
    lines = {row.name: row.flat for row in top(profile, granularity=Granularity.LINES, node_fraction=0).rows}
    for function, marker in [
        ("main.appendGrowth", "ids = append(ids, i)"),
        ("main.allocSlices", "hugeBuf = make([]byte, 1<<20)"),
        ("main.leakyCache", "cache[key] = make([]byte, 16<<10)"),
    ]:
        line = line_of(marker)
        assert totals[(function, line)] == lines[f"{function} {HEAPKINDS}:{line}"] > 0
    # strings.Builder is inlined into buildStrings: its bytes belong to the user line that called it
    builder_line = line_of('b.WriteString("segment-")')
    assert totals[("main.buildStrings", builder_line)] > 0
    assert not any(function.startswith("strings.") for function, _ in totals)


def test_kinds_from_plumbing_source_and_size() -> None:
    profile = load(GROWN)
    source = checkout_source_lines(profile)
    assert source[(HEAPKINDS, line_of("ids = append(ids, i)"))].strip() == "ids = append(ids, i)"
    found = {(c.site.function, c.site.line, c.kind.kind) for c in clusters(profile, 3, source_lines=source)}
    expectations = [
        ("main.appendGrowth", "ids = append(ids, i)", "growslice"),
        ("main.allocSlices", "hugeBuf = make([]byte, 1<<20)", "makeslice"),
        ("main.allocStructs", "u := new(user)", "newobject"),
        ("main.allocStructs", "list = &node{next: list}", "newobject"),
        ("main.buildStrings", 's += strconv.Itoa(i) + ","', "string-concat"),
        ("main.buildStrings", 'b.WriteString("segment-")', "growslice"),  # frame strings.(*Builder).WriteString
        ("main.leakyCache", "cache[key] = make([]byte, 16<<10)", "makeslice"),  # the 16 KiB objects
        ("main.leakyCache", "cache[key] = make([]byte, 16<<10)", "map"),  # the rest of that line is the map
    ]
    for function, marker, kind in expectations:
        assert (function, line_of(marker), kind) in found, (function, marker, kind)
    # three allocations on one line, none identifiable by size: say so rather than guess
    assert (
        "main.growMap",
        line_of("sessions[i] = &session{user: &user{ID: i}}"),
        "unknown",
    ) in found
    without_source = {(c.site.line, c.kind.kind) for c in clusters(profile, 3)}
    assert (line_of("ids = append(ids, i)"), "unknown") in without_source


def test_leak_path_of_the_diff_is_the_leaky_cache() -> None:
    difference = profile_ops.diff(load(GROWN), load(BASE))
    source = checkout_source_lines(difference)
    paths = leak_paths(difference, 3, top=3, source_lines=source)
    leak = paths[0]
    assert leak.site is not None and leak.site.function == "main.leakyCache"
    assert leak.site.line == line_of("cache[key] = make([]byte, 16<<10)")
    assert leak.kind.kind == "makeslice" and leak.object_size == 16384
    assert leak.frames[-1].function == "main.leakyCache" and leak.frames[0].function == "net/http.(*conn).serve"
    assert 64 * 16384 <= leak.growth < 70 * 16384  # /grow?n=64 between the captures
    assert [p.growth for p in paths] == sorted((p.growth for p in paths), reverse=True)


def test_clusters_account_for_every_byte() -> None:
    difference = profile_ops.diff(load(GROWN), load(BASE))
    groups = clusters(difference, 3)
    assert sum(c.growth for c in groups) == int(difference.samples.values[:, 3].sum())
    assert sum(c.current for c in groups) == int(load(GROWN).samples.values[:, 3].sum())
    assert groups[0].site.function == "main.leakyCache" and groups[0].size_class == 16384


@given(st.integers(min_value=1, max_value=2**40))
def test_size_class_holds_the_object(size: int) -> None:
    cls = size_class(size)
    assert cls >= size
    assert cls in heap_kinds.SIZE_CLASSES or cls & (cls - 1) == 0  # a Go class, or a power of two beyond 32 KiB
    assert size_classes(np.array([size], dtype=np.int64)).tolist() == [cls]


@given(st.text(max_size=200), st.one_of(st.none(), st.integers(0, 1 << 30)))
def test_any_source_text_yields_a_known_kind(text: str, size: int | None) -> None:
    kinds = {value for name, value in vars(heap_kinds).items() if name.isupper() and isinstance(value, str)}
    assert infer_kind([], text, size).kind in kinds
    assert infer_kind(["runtime.mallocgc", "bufio.NewReaderSize"], text, size).kind == "makeslice"


@pytest.mark.parametrize(
    ("line", "size", "kind"),
    [
        ("buf := make([]byte, 64<<10) // LEAK", 65536, "makeslice"),
        ('fmt.Println("make([]byte, 3) // not code")', None, "unknown"),
        ("visits.Store(key, visit{at: now})", None, "map"),
        ("cache[key] = make([]byte, 16<<10)", 2688, "map"),
        ("x := y", None, "unknown"),
        ("go worker(jobs)", None, "goroutine-stack"),
    ],
)
def test_source_rules(line: str, size: int | None, kind: str) -> None:
    assert infer_kind([], line, size).kind == kind
