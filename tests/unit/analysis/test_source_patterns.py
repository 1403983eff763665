"""The source patterns on the repository's own live leak corpus: each `// LEAK: <marker>` line is named by a finding,
and the healthy look-alike functions of goroutines' goleaks have none."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaksleuth.analysis.source.findings import Finding
from leaksleuth.analysis.source.lint import lint_source
from tests.support.golive import marker_line

ROOT = Path(__file__).resolve().parents[3]
GO = ROOT / "testdata" / "go"
DEMO = ROOT / "src" / "leaksleuth" / "cli" / "demo_service" / "main.go"

LEAKS = [
    (GO / "goleaks" / "main.go", marker, slug)
    for marker, slug in (
        ("timeout-send", "send-no-receiver"),
        ("done-never-closed", "chan-never-closed"),
        ("waitgroup", "waitgroup-misuse"),
        ("nil-range", "chan-never-closed"),
        ("ticker", "ticker-not-stopped"),
        ("semaphore", "unbounded-goroutines"),
        ("lock", "unlock-missing"),
        ("handler-lock", "unlock-missing"),
    )
] + [
    (GO / "memfleet" / "main.go", "heap-leak", "grow-only-global"),
    (GO / "memfleet" / "main.go", "goroutine-leak", "chan-never-closed"),
    (GO / "memfleet" / "main.go", "offheap", "grow-only-global"),
    (GO / "heapleakmap" / "main.go", "never deleted", "grow-only-global"),
    (GO / "heapleakslice" / "main.go", "retained whole by the 16-byte sub-slice below", "grow-only-global"),
]


def _lint(path: Path) -> list[Finding]:
    return lint_source(str(path), path.read_bytes())


@pytest.mark.parametrize(("path", "marker", "slug"), LEAKS, ids=[f"{p.parent.name}-{m}" for p, m, _ in LEAKS])
def test_every_live_leak_line_is_named(path: Path, marker: str, slug: str) -> None:
    wanted = marker_line(path, marker)
    assert any(f.slug == slug and wanted in f.lines for f in _lint(path)), [(f.slug, f.lines) for f in _lint(path)]


def test_goleaks_http_body_mode_has_its_finding() -> None:
    source = (GO / "goleaks" / "main.go").read_text().splitlines()
    line = next(n for n, t in enumerate(source, 1) if "client.Get(" in t)
    assert [f.slug for f in _lint(GO / "goleaks" / "main.go") if f.line == line] == ["body-not-closed"]


def _function_span(path: Path, name: str) -> range:
    lines = path.read_text().splitlines()
    start = next(n for n, t in enumerate(lines, 1) if t.startswith(f"func {name}("))
    end = next(n for n, t in enumerate(lines[start:], start + 1) if t == "}")
    return range(start, end + 1)


HEALTHY = ["idleWorkerPool", "burstThatReturns", "serverConnections", "fixedBackgroundLoops"]


@pytest.mark.parametrize("function", HEALTHY)
def test_goleaks_healthy_look_alikes_are_clean(function: str) -> None:
    path = GO / "goleaks" / "main.go"
    span = _function_span(path, function)
    assert [f for f in _lint(path) if f.line in span] == []


def test_demo_service_names_both_leaks_and_nothing_in_healthy_code() -> None:
    found = {(f.slug, f.function) for f in _lint(DEMO)}
    assert found == {("send-no-receiver", "quoteWithTimeout"), ("grow-only-global", "rememberSession")}


@pytest.mark.parametrize("program", ["heapchurn", "heaplru", "contended"])
def test_healthy_programs_are_clean(program: str) -> None:
    assert _lint(GO / program / "main.go") == []


def test_ignore_comment_needs_a_reason() -> None:
    source = b"package p\nvar m = map[int]int{}\nfunc f(k int) {\n%s\tm[k] = 1\n}\n"
    assert [f.slug for f in lint_source("x.go", source % b"")] == ["grow-only-global"]
    assert lint_source("x.go", source % b"\t//leaksleuth:ignore grow-only-global keys are a bounded enum\n") == []
    assert len(lint_source("x.go", source % b"\t//leaksleuth:ignore grow-only-global\n")) == 1
