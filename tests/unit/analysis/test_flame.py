"""The flame graph view-model (tree data) and its HTML, asserted on data: the browser test checks the drawing."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from leaksleuth.analysis.heap.flame import FlameNode, flame_graph
from leaksleuth.analysis.heap.top import top
from leaksleuth.cli.main import main
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model import profile_ops
from leaksleuth.model.profile import Function, Profile
from leaksleuth.report.flame import render_html, script_json, view_data
from tests.conftest import CAPTURES

BASE = CAPTURES / "heapkinds.heap.pb.gz"
GROWN = CAPTURES / "heapkinds.heap.grown.pb.gz"
XSS = "<script>alert(1)</script>"


def load(path: Path) -> Profile:
    return parse_pprof(path.read_bytes())


def first_occurrence_totals(root: FlameNode, field: str) -> dict[str, int]:
    """A frame's value counted once per path (recursion does not double it), summed per name: pprof's cum."""
    totals: dict[str, int] = {}
    stack: list[tuple[FlameNode, frozenset[str]]] = [(child, frozenset()) for child in root.children]
    while stack:
        node, above = stack.pop()
        if node.name not in above:
            totals[node.name] = totals.get(node.name, 0) + getattr(node, field)
        stack.extend((child, above | {node.name}) for child in node.children)
    return totals


@pytest.mark.parametrize("capture", ["heapkinds.heap.pb.gz", "heapkinds.allocs.pb.gz", "parked.goroutine.pb.gz"])
def test_tree_agrees_with_top(capture: str) -> None:
    profile = load(CAPTURES / capture)
    graph = flame_graph(profile, min_fraction=0)
    table = top(profile, node_fraction=0)
    assert first_occurrence_totals(graph.root, "value") == {row.name: row.cum for row in table.rows if row.cum}
    assert graph.root.value == sum(row.flat for row in table.rows)
    for node in graph.root.walk():
        assert sum(child.value for child in node.children) <= node.value


def test_diff_tree_carries_both_profiles() -> None:
    graph = flame_graph(profile_ops.diff(load(GROWN), load(BASE)), min_fraction=0)
    assert graph.is_diff
    assert graph.root.value == int(load(GROWN).samples.values[:, 3].sum())
    assert graph.root.base == int(load(BASE).samples.values[:, 3].sum())
    grown = first_occurrence_totals(graph.root, "value")
    shrunk = first_occurrence_totals(graph.root, "base")
    assert grown["main.leakyCache"] - shrunk["main.leakyCache"] > 1_000_000
    assert any(node.delta < 0 for node in graph.root.walk())  # something shrank: both colours are exercised


def test_folding_keeps_widths_consistent() -> None:
    graph = flame_graph(load(BASE), min_fraction=0.01)
    nodes = graph.root.walk()
    assert all(node.width >= graph.folded_below for node in nodes[1:])
    assert len(nodes) < len(flame_graph(load(BASE), min_fraction=0).root.walk())


def test_view_data_round_trips_and_names_cannot_close_the_script() -> None:
    profile = load(BASE)
    evil = [replace(f, name=XSS) if f.name == "main.leakyCache" else f for f in profile.functions]
    poisoned = _with_functions(profile, evil)
    graph = flame_graph(poisoned)
    data = view_data(graph, title=f"title {XSS}")
    assert XSS in data["names"]
    page = render_html(graph, title=f"title {XSS}")
    assert XSS not in page and "</script" not in script_json(data)
    embedded = re.search(r'<script type="application/json" id="flame-data">(.*?)</script>', page, re.S)
    assert embedded is not None and json.loads(embedded.group(1)) == json.loads(json.dumps(data))
    assert "http://" not in page and "https://" not in page  # nothing fetched: works offline
    assert page.count("<script") == 2


def test_cli_writes_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "diff.html"
    assert main(["flame", str(GROWN), "--diff-base", str(BASE), "-o", str(out)]) == 0
    page = out.read_text()
    assert "main.leakyCache" in page and '"diff":true' in page
    assert main(["flame", str(BASE), "-o", str(tmp_path / "flame.svg")]) == 2
    assert "the flame graph is an HTML page" in " ".join(capsys.readouterr().err.split())  # the console wraps


def _with_functions(profile: Profile, functions: list[Function]) -> Profile:
    by_id = {f.id: f for f in functions}
    locations = [
        replace(loc, lines=tuple(replace(line, function=by_id[line.function.id]) for line in loc.lines))
        for loc in profile.locations
    ]
    return replace(profile, functions=functions, locations=locations)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--min-fraction", "nan"),
        ("--min-fraction", "-0.1"),
        ("--min-fraction", "1.5"),
        ("--timeout", "nan"),
        ("--timeout", "-1"),
    ],
)
def test_cli_out_of_range_numbers_are_usage_errors(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "flame.html"
    assert main(["flame", str(BASE), "-o", str(output), option, value]) == 2
    assert f"{option} must be" in capsys.readouterr().err and not output.exists()
