"""`heap top` / `heap diff` against `go tool pprof -top` on real captures: every row's name, flat, cum and marker."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from leaksleuth.analysis.heap.top import Granularity, TopTable, clean_path, top
from leaksleuth.cli.main import main
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model import profile_ops
from leaksleuth.model.profile import Profile
from tests.conftest import CAPTURES, captures, ids
from tests.support.pprof_oracle import parse_raw, pprof_raw
from tests.support.pprof_top_oracle import PprofTop, pprof_top

PROTO = captures("proto")
BASE = CAPTURES / "heapkinds.heap.pb.gz"
GROWN = CAPTURES / "heapkinds.heap.grown.pb.gz"


def load(path: Path) -> Profile:
    return parse_pprof(path.read_bytes())


def assert_same(ours: TopTable, theirs: PprofTop) -> None:
    assert theirs.rows, "pprof printed no rows: the comparison would be vacuous"
    assert [(r.name, r.flat, r.cum, r.inline) for r in ours.rows] == [
        (r.name, r.flat, r.cum, r.inline) for r in theirs.rows
    ]
    assert ours.total == theirs.total
    assert ours.shown == theirs.shown
    assert ours.dropped_nodes == theirs.dropped
    if theirs.out_of is not None:
        assert ours.node_count == theirs.out_of


@pytest.mark.parametrize("entry", PROTO, ids=ids(PROTO))
@pytest.mark.parametrize("granularity", ["functions", "lines"])
def test_every_sample_type_of_every_capture(go: str, entry: dict[str, str], granularity: str) -> None:
    path = CAPTURES / entry["file"]
    profile = load(path)
    for index, value_type in enumerate(profile.sample_types):
        theirs = pprof_top(go, path, value_type.unit, "-nodefraction=0", f"-sample_index={index}", f"-{granularity}")
        ours = top(profile, sample_index=index, granularity=Granularity(granularity), node_fraction=0)
        assert_same(ours, theirs)


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["-nodecount=7"], {"nodecount": 7}),
        (["-nodefraction=0.05"], {"node_fraction": 0.05}),
        ([], {}),  # pprof's defaults: -nodefraction=0.005, all rows
        (["-focus=main"], {"focus": re.compile("main")}),
        (["-ignore=net/http"], {"ignore": re.compile("net/http")}),
        (["-hide=runtime"], {"hide": re.compile("runtime")}),
        (
            ["-focus=http", "-hide=bufio|sync", "-nodecount=12"],
            {"focus": re.compile("http"), "hide": re.compile("bufio|sync"), "nodecount": 12},
        ),
        (
            ["-sample_index=alloc_objects", "-lines"],
            {"sample_index": "alloc_objects", "granularity": Granularity.LINES},
        ),
    ],
)
def test_trimming_and_filters(go: str, flags: list[str], options: dict[str, object]) -> None:
    profile = load(BASE)
    unit = "count" if "alloc_objects" in " ".join(flags) else "bytes"
    assert_same(top(profile, **options), pprof_top(go, BASE, unit, *flags))  # type: ignore[arg-type]


@pytest.mark.parametrize("subtract", [False, True], ids=["diff_base", "base"])
@pytest.mark.parametrize("normalize", [False, True], ids=["", "normalize"])
@pytest.mark.parametrize("granularity", ["functions", "lines"])
def test_diff_matches_pprof(go: str, subtract: bool, normalize: bool, granularity: str) -> None:
    difference = profile_ops.diff(load(GROWN), load(BASE), subtract=subtract, normalize_first=normalize)
    flags = ["-nodefraction=0", f"-{granularity}", "-base" if subtract else "-diff_base", str(BASE)]
    theirs = pprof_top(go, GROWN, "bytes", *flags, *(["-normalize"] if normalize else []))
    assert_same(top(difference, granularity=Granularity(granularity), node_fraction=0), theirs)
    assert any(row.flat < 0 for row in theirs.rows), "a diff with no shrinking node would not test signs"


@pytest.mark.parametrize("sample_index", ["alloc_space", "alloc_objects", "inuse_objects"])
def test_allocs_diff_matches_pprof(go: str, sample_index: str) -> None:
    """An allocs profile of the same process against its heap profile: every sample type, pprof's rows."""
    allocs = CAPTURES / "heapkinds.allocs.pb.gz"
    difference = profile_ops.diff(load(allocs), load(BASE))
    unit = "bytes" if sample_index.endswith("space") else "count"
    theirs = pprof_top(go, allocs, unit, "-nodefraction=0", f"-sample_index={sample_index}", "-diff_base", str(BASE))
    assert_same(top(difference, sample_index=sample_index, node_fraction=0), theirs)


def test_diff_base_percentages_are_of_the_base_total(go: str) -> None:
    table = top(profile_ops.diff(load(GROWN), load(BASE)))
    assert table.total == int(load(BASE).samples.values[:, 3].sum())
    subtracted = top(profile_ops.diff(load(GROWN), load(BASE), subtract=True))
    assert subtracted.total < table.total  # pprof -base: percentages of what is left after cancelling


def test_files_are_one_node_each(go: str) -> None:
    """pprof -files keeps one node per function; ours merges a file, checked against pprof -raw's samples."""
    profile = load(BASE)
    flat: dict[str, int] = defaultdict(int)
    cum: dict[str, int] = defaultdict(int)
    for (values, stack, _labels), count in parse_raw(pprof_raw(go, BASE)).items():
        files = [clean_path(frame[1]) for frame in stack if isinstance(frame, tuple)]
        if not files:
            continue
        flat[files[0]] += values[3] * count
        for file in set(files):
            cum[file] += values[3] * count
    table = top(profile, granularity=Granularity.FILES, node_fraction=0)
    assert {row.name: (row.flat, row.cum) for row in table.rows} == {
        file: (flat[file], cum[file]) for file in cum if flat[file] or cum[file]
    }
    assert len({row.name for row in table.rows}) == len(table.rows)


def test_cli_table_is_pprofs_table(go: str, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    assert main(["heap", "top", str(BASE), "--nodecount", "15"]) == 0
    ours = capsys.readouterr().out.splitlines()
    theirs = subprocess.run(
        [go, "tool", "pprof", "-top", "-nodecount=15", str(BASE)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    start = next(i for i, line in enumerate(theirs) if line.startswith("Type:"))
    assert ours[1:] == [line for line in theirs[start:] if not line.startswith("Time:")]


def test_cli_json_shape_and_values(go: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["heap", "top", str(BASE), "--json", "--nodefraction", "0", "--sample-index", "1"]) == 0
    document = json.loads(capsys.readouterr().out)
    # the documented shape, plus granularity and nodes: a key added or dropped must be noticed here
    assert set(document) == {"sample_index", "unit", "total", "rows", "granularity", "nodes"}
    assert document["sample_index"] == "alloc_space" and document["unit"] == "bytes"
    assert type(document["total"]) is int and document["granularity"] == "functions"
    assert type(document["nodes"]) is int and document["nodes"] == len(document["rows"])
    theirs = pprof_top(go, BASE, "bytes", "-nodefraction=0", "-sample_index=1")
    assert [(r["name"], r["flat"], r["cum"]) for r in document["rows"]] == [
        (r.name, r.flat, r.cum) for r in theirs.rows
    ]
    types = {"name": str, "flat": int, "flat_pct": float, "cum": int, "cum_pct": float, "inline": str}
    for row, pprof_row in zip(document["rows"], theirs.rows, strict=True):
        assert {key: type(value) for key, value in row.items()} == types, row
        assert row["inline"] in ("", "inline", "partial-inline")
        # full precision: rounded to 4 decimals, a row under 0.00005% of the total read 0.0
        assert row["flat_pct"] == abs(row["flat"]) / document["total"] * 100
        assert row["cum_pct"] == abs(row["cum"]) / document["total"] * 100
        if float(pprof_row.cum_pct.rstrip("%")) >= 1:  # pprof prints two decimals from 1% up
            assert f"{row['cum_pct']:.2f}%" == pprof_row.cum_pct.strip()


def test_bad_sample_index_and_regex_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heap", "top", str(BASE), "--sample-index", "cpu"]) == 2
    assert main(["heap", "top", str(BASE), "--focus", "("]) == 2
    assert main(["heap", "top", str(BASE), "--granularity", "addresses"]) == 2
    assert main(["heap", "top", str(CAPTURES / "parked.goroutine.debug2.txt")]) == 2
    err = capsys.readouterr().err
    assert "--sample-index 'cpu'" in err and "invalid regular expression" in err and "not a profile" in err


def test_inuse_prefix_alias_like_pprof() -> None:
    profile = load(BASE)
    assert top(profile, sample_index="inuse_space").sample_type == "inuse_space"
    assert top(profile, sample_index="3").sample_type == "inuse_space"
    assert top(profile).sample_type == "inuse_space"  # heap profiles default to in-use space


def test_diff_cli_forms_agree(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["heap", "diff", str(BASE), str(GROWN), "--json", "--paths", "2"]) == 0
    positional = json.loads(capsys.readouterr().out)
    assert main(["heap", "diff", "--base", str(BASE), "--target", str(GROWN), "--json", "--paths", "2"]) == 0
    named = json.loads(capsys.readouterr().out)
    assert positional == named
    assert positional["rows"][0]["name"] == "main.leakyCache" and positional["rows"][0]["flat"] > 1_000_000
    assert positional["leak_paths"][0]["function"] == "main.leakyCache" and len(positional["leak_paths"]) == 2
    assert positional["clusters"][0]["kind"] == "makeslice"
    assert main(["heap", "diff", str(BASE)]) == 2
    assert main(["heap", "diff", str(BASE), str(GROWN), "--base", str(BASE)]) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["heap", "top", "http://[::1"],
        ["heap", "top", "http://host:99999"],
        ["heap", "diff", "http://[::1", str(BASE)],
        ["heap", "trend", "http://[::1", str(BASE)],
        ["flame", "http://[::1", "-o", "x.html"],
    ],
    ids=["top", "top-port", "diff", "trend", "flame"],
)
def test_an_invalid_url_is_a_usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """urllib raises ValueError ("Invalid IPv6 URL") for an unclosed '[': one line and a hint, not a traceback."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not a valid URL" in err and "hint:" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--nodefraction", "nan"),
        ("--nodefraction", "inf"),
        ("--nodefraction", "-1"),  # used to hide every row (cutoff |total * -1|)
        ("--nodefraction", "2"),
        ("--timeout", "nan"),
        ("--timeout", "-1"),
        ("--timeout", "inf"),
        ("--timeout", "0"),
    ],
)
@pytest.mark.parametrize("command", ["top", "diff"])
def test_out_of_range_numbers_are_usage_errors(
    command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = [str(BASE)] if command == "top" else [str(BASE), str(GROWN)]
    assert main(["heap", command, *sources, option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leaksleuth: error: {option} must be") and f"got {value}" in err and "hint:" in err


def test_trend_timeout_is_checked_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heap", "trend", str(BASE), str(GROWN), "--timeout", "nan"]) == 2
    assert "--timeout must be a positive number of seconds" in capsys.readouterr().err


def test_boundary_fractions_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heap", "top", str(BASE), "--nodefraction", "0", "--timeout", "0.5"]) == 0
    assert main(["heap", "top", str(BASE), "--nodefraction", "1"]) == 0
    assert "Dropped" in capsys.readouterr().out


GOROUTINES = CAPTURES / "parked.goroutine.pb.gz"


@pytest.fixture(scope="module")
def goroutine_subsets(go: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two more goroutine profiles of the same process, cut by pprof itself: the goroutines in main's own code,
    and all but the fetchWithTimeout/sender ones, so a diff of the two has rows that grow and rows that shrink."""
    import subprocess

    folder = tmp_path_factory.mktemp("goroutines")
    made = []
    for name, flag in (("main.pb.gz", "-focus=main\\."), ("fewer.pb.gz", "-ignore=fetchWithTimeout|sender")):
        proto = subprocess.run(
            [go, "tool", "pprof", "-proto", flag, str(GOROUTINES)], capture_output=True, check=True, timeout=300
        ).stdout
        (folder / name).write_bytes(proto)
        made.append(folder / name)
    return made[0], made[1]


@pytest.mark.parametrize("subtract", [False, True], ids=["diff_base", "base"])
@pytest.mark.parametrize("granularity", ["functions", "lines"])
def test_goroutine_diff_matches_pprof(
    go: str, goroutine_subsets: tuple[Path, Path], subtract: bool, granularity: str
) -> None:
    in_main, fewer = goroutine_subsets
    difference = profile_ops.diff(load(fewer), load(in_main), subtract=subtract)
    flags = ["-nodefraction=0", f"-{granularity}", "-base" if subtract else "-diff_base", str(in_main)]
    theirs = pprof_top(go, fewer, "count", *flags)
    assert_same(top(difference, granularity=Granularity(granularity), node_fraction=0), theirs)
    assert any(row.flat < 0 for row in theirs.rows) and any(row.flat > 0 for row in theirs.rows)


def test_goroutine_diff_has_no_allocation_clusters(
    goroutine_subsets: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Kinds and object sizes are heap notions: a goroutine (block, mutex…) diff shows its paths without them."""
    import json

    in_main, _ = goroutine_subsets
    assert main(["heap", "diff", str(in_main), str(GOROUTINES)]) == 0
    out = capsys.readouterr().out
    assert "Leak paths (root → leaf)" in out and "Allocation sites" not in out and "[unknown]" not in out
    assert main(["heap", "diff", str(in_main), str(GOROUTINES), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["clusters"] == [] and document["leak_paths"]
    assert main(["heap", "diff", str(BASE), str(GROWN)]) == 0
    assert "Allocation sites by kind and object size" in capsys.readouterr().out


def test_diff_of_a_profile_with_itself_lists_no_unchanged_sites(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["heap", "diff", str(BASE), str(BASE)]) == 0
    assert "Allocation sites" not in capsys.readouterr().out
    assert main(["heap", "diff", str(BASE), str(GROWN), "--json"]) == 0
    clusters = json.loads(capsys.readouterr().out)["clusters"]
    assert clusters and all(cluster["growth"] != 0 for cluster in clusters)


def test_fleet_form_reads_any_profile_in_its_default_sample_type(
    goroutine_subsets: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Three goroutine profiles: nobody asked for inuse_space, so nothing may complain it is missing."""
    import json

    sources = [str(GOROUTINES), *(str(path) for path in goroutine_subsets)]
    assert main(["heap", "diff", *sources, "--json"]) == 0
    captured = capsys.readouterr()
    assert "inuse_space" not in captured.err
    fleets = [target["fleet"] for target in json.loads(captured.out)["targets"]]
    assert {(fleet["sample_index"], fleet["unit"]) for fleet in fleets} == {("goroutine", "count")}
    assert sorted(fleet["value"] for fleet in fleets) == sorted(int(load(Path(s)).totals()[0]) for s in sources)
    assert all("inuse_bytes" not in fleet for fleet in fleets)  # goroutines are not bytes
    assert main(["heap", "diff", *sources]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[1] == "goroutine" and "B " not in text
    assert main(["heap", "diff", *sources, "--sample-index", "inuse_space"]) == 2  # asked for: still an error


def test_fleet_form_of_heap_profiles_keeps_its_bytes_keys(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["heap", "diff", str(BASE), str(GROWN), str(CAPTURES / "heapkinds.heap.debug1.txt"), "--json"]) == 0
    fleets = [target["fleet"] for target in json.loads(capsys.readouterr().out)["targets"]]
    for fleet in fleets:
        assert fleet["sample_index"] == "inuse_space" and fleet["unit"] == "bytes"
        assert fleet["inuse_bytes"] == fleet["value"] and fleet["excess_bytes"] == fleet["excess"]
