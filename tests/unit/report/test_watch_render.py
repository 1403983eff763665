"""The watch tables show target-controlled text as text: IPv6 URLs, error bodies and names with ``[`` in them."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType

from leaksleuth.model.report import Report, Suspect, TargetReport
from leaksleuth.model.views import InstanceFacts
from leaksleuth.report.watch import live_table, summary_line, verdict_table

ERROR = "GET http://[fd00::7]:6060/debug/pprof/goroutine: HTTP 500: upstream said [/oops] and [bold]"


def _text(renderable: RenderableType) -> str:
    console = Console(record=True, width=400, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _fleet() -> Report:
    suspect = Suspect(
        "goroutine",
        "chan-send-leak",
        "main.(*pool)[go.shape.int].run.func1",  # generic instantiations print brackets
        "/src/[red]/main.go",
        42,
        0.93,
        "3,000 goroutines blocked in main.(*pool)[go.shape.int].run.func1",
    )
    return Report(
        [
            TargetReport(
                "http://[fd00::7]:6060", "error", 0, ERROR, [], instance=InstanceFacts.from_json({"service": "api"})
            ),
            TargetReport(
                "http://[::1]:6060",
                "ok",
                5,
                None,
                [suspect],
                instance=InstanceFacts.from_json(
                    {"service": "api[blue]", "goroutines": 3000, "heap_inuse_bytes": 2 << 20, "missed_rounds": 2}
                ),
            ),
        ]
    )


def test_live_table_shows_ipv6_targets_and_markup_like_text_verbatim() -> None:
    shown = _text(live_table(_fleet(), {}, round_number=4, seconds=0.2, busy=1, departed=2))
    for text in ("http://[fd00::7]:6060", "http://[::1]:6060", ERROR, "api[blue]", "chan-send-leak at main.go:42"):
        assert text in shown, text
    assert "round 4 (0.2s), 1 busy, 2 departed" in shown
    assert "missed" in shown  # a column only while some target missed rounds


def test_verdict_table_shows_function_and_file_names_verbatim() -> None:
    shown = _text(verdict_table(_fleet()))
    for text in ("http://[fd00::7]:6060", ERROR, "main.(*pool)[go.shape.int].run.func1", "main.go:42"):
        assert text in shown, text


def test_departed_targets_and_estimated_heap_are_marked() -> None:
    gone = TargetReport(
        "http://10.0.0.9:6060",
        "ok",
        6,
        None,
        [],
        instance=InstanceFacts.from_json({"departed_at": "2026-11-28T01:02:03Z"}),
    )
    estimated = TargetReport(
        "http://10.0.0.8:6060",
        "ok",
        6,
        None,
        [],
        instance=InstanceFacts.from_json({"goroutines": 7, "heap_inuse_bytes": 3 << 20, "heap_inuse_estimated": True}),
    )
    report = Report([gone, estimated])
    assert "departed 2026-11-28T01:02:03Z" in _text(verdict_table(report))
    assert "~3MiB" in _text(live_table(Report([estimated]), {}, round_number=1, seconds=0.1))
    assert summary_line(report).startswith("leaksleuth watch: 2 targets (1 departed), 0 with a suspect")
