"""One verdict per root cause (issue 11): series findings attach to the sites that explain them, by-design parks
stay quiet, library-only goroutines are named by the user line that started them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from leaksleuth.analysis.attribution import attribute, series_growth
from leaksleuth.analysis.goroutines.snapshots import snapshot_from_dump
from leaksleuth.analysis.goroutines.verdict import Options, evaluate
from leaksleuth.cli.main import main
from leaksleuth.formats.goroutine_text import parse_goroutine_dump
from leaksleuth.model.evidence import GoroutineEvidence
from leaksleuth.model.heap_report import HeapSiteEvidence
from leaksleuth.model.report import Report, Suspect, TargetReport
from leaksleuth.model.series import SeriesEvidence, Signal
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())
MIB = 1 << 20


def _series(category: str, metric: str, growth: float, confidence: float = 0.95, kind: Any = "heap") -> Suspect:
    """A site-less finding shaped like analysis.series.fleet's: its leading signal carries metric and growth."""
    signal = Signal(category, confidence, f"{metric} grows", {"metric": metric, "growth": growth})
    evidence = SeriesEvidence(signals=[signal])
    return Suspect(kind, category, "", "", 0, confidence, f"{metric} grows", evidence)


def _heap_site(line: int, growth: float, confidence: float, *, user_code: bool = True) -> Suspect:
    evidence = HeapSiteEvidence(growth_bytes=growth, user_code=user_code)
    return Suspect("heap", "slice-retention", f"main.site{line}", "/app/main.go", line, confidence, "site", evidence)


def _bucket(line: int, gained: int, confidence: float, **evidence: Any) -> Suspect:
    detail = GoroutineEvidence(count=gained + 10, details={"growth": {"from": 10, "to": gained + 10}}, **evidence)
    return Suspect("goroutine", "mutex", "main.lock", "/app/main.go", line, confidence, "bucket", detail)


def _ranked(suspects: list[Suspect]) -> list[Suspect]:
    report = TargetReport("http://x", suspects=suspects)
    report.sort()
    return report.suspects


def test_heap_growth_in_metrics_attaches_to_the_site_that_explains_it() -> None:
    site = _heap_site(23, 60 * MIB, 0.7)
    goal = _series("heap-growth", "next_gc", 130 * MIB)  # the goal is twice the live heap at GOGC=100
    top, *rest = _ranked(attribute([], [site], [goal]))
    assert rest == [] and top is site and top.related == [goal]
    assert top.evidence.explains[0].share == round(120 / 130, 3)
    assert "explains 92% of heap growth" in top.summary
    assert top.confidence > 0.9  # 0.7 alone; the finding it explains raised it


def test_a_lock_pile_up_explains_the_heap_goal_with_its_stacks() -> None:
    bucket = _bucket(181, gained=3000, confidence=0.94)
    goal = _series("heap-growth", "next_gc", 8 * MIB)
    suspects = _ranked(attribute([bucket], [], [goal], stack_bytes=8192))
    assert [s.file for s in suspects] == ["/app/main.go"] and suspects[0].related == [goal]
    assert suspects[0].confidence > 0.94


def test_goroutine_count_growth_belongs_to_the_buckets_that_grew() -> None:
    read = _bucket(2616, gained=500, confidence=0.94, related_count=510)  # read+write loops merged: 1,000 more
    count = _series("goroutine-growth", "goroutines", 1000, kind="goroutine")
    assert attribute([read], [], [count]) == [read] and read.evidence.explains[0].share == 1.0


def test_a_finding_no_site_explains_stands_alone_and_says_why() -> None:
    small = _heap_site(23, 2 * MIB, 0.4)
    goal = _series("heap-growth", "next_gc", 100 * MIB)
    suspects = _ranked(attribute([], [small], [goal]))
    assert goal in suspects and small in suspects and not small.related
    assert "no line named: 1 growing heap site(s) and 0 goroutine bucket(s) explain 4%" in goal.summary
    unprofiled = _series("heap-growth", "heap_inuse", 50 * MIB)
    attribute([], [], [unprofiled], heap_profiled=False)
    assert "no heap profile served" in unprofiled.summary
    outside = _series("non-heap-growth", "rss_bytes - heap_inuse - stack_inuse", 50 * MIB)
    assert series_growth(outside) is None and attribute([], [small], [outside])[-1] is outside


def test_library_heap_growth_beside_a_goroutine_leak_is_its_state_not_a_second_verdict() -> None:
    bucket = _bucket(181, gained=300, confidence=0.9)
    library = _heap_site(0, 5 * MIB, 0.6, user_code=False)
    same_line = _heap_site(181, 1 * MIB, 0.3)
    other = _heap_site(40, 9 * MIB, 0.8)
    kept = attribute([bucket], [library, same_line, other], [])
    assert kept == [bucket, other] and bucket.related == [library, same_line]


def test_sites_of_one_function_are_one_suspect_at_the_site_holding_most() -> None:
    keys = Suspect(
        "heap", "string-growth", "main.record", "/app/m.go", 31, 0.95, "keys", HeapSiteEvidence(growth_bytes=3 * MIB)
    )
    entries = Suspect(
        "heap", "map-growth", "main.record", "/app/m.go", 32, 0.9, "map", HeapSiteEvidence(growth_bytes=18 * MIB)
    )
    elsewhere = _heap_site(23, 1 * MIB, 0.4)
    (first, second) = _ranked(attribute([], [keys, entries, elsewhere], []))
    assert (first, first.line, first.confidence, first.related) == (entries, 32, 0.95, [keys]) and second is elsewhere


def test_at_equal_confidence_the_line_ranks_above_the_site_less_finding() -> None:
    located = Suspect("heap", "map-growth", "main.f", "/app/a.go", 9, 0.95, "site")
    siteless = Suspect("heap", "heap-growth", "", "", 0, 0.95, "heap grows")
    assert _ranked([siteless, located]) == [located, siteless]


def test_related_findings_are_in_the_report_and_the_schema_accepts_them() -> None:
    site, goal = _heap_site(23, 60 * MIB, 0.7), _series("heap-growth", "next_gc", 130 * MIB)
    document = Report([TargetReport("http://x", suspects=attribute([], [site], [goal]))]).to_json()
    jsonschema.validate(document, SCHEMA)
    related = document["targets"][0]["suspects"][0]["related"]
    assert related[0]["category"] == "heap-growth" and related[0]["file"] == ""
    assert "related" in SCHEMA["properties"]["targets"]["items"]["properties"]["suspects"]["items"]["properties"]


# ---- parked forever --------------------------------------------------------------------------------------------

_RUN_LOOP = (
    "goroutine {id} [select (no cases) (leaked)]:\nmain.runLoop()\n\t/app/loop.go:12 +0x1d\n"
    "created by main.main in goroutine 1\n\t/app/main.go:30 +0x2a\n\n"
)


def _dumps(counts: list[int]) -> list[Any]:
    snapshots = []
    for position, count in enumerate(counts):
        text = "".join(_RUN_LOOP.format(id=100 * position + i + 2) for i in range(count))
        snapshots.append(snapshot_from_dump(parse_goroutine_dump(text.encode()), taken_at=10.0 * position))
    return snapshots


def test_one_proven_goroutine_that_never_grows_is_parked_forever() -> None:
    (suspect,), _ = evaluate(_dumps([1, 1, 1, 1, 1, 1]))
    assert suspect.category == "parked-forever" and suspect.confidence < 0.5
    assert "proven unreachable but not growing: by design?" in suspect.summary


def test_it_is_a_leak_again_as_soon_as_it_grows() -> None:
    (suspect,), _ = evaluate(_dumps([1, 1, 1, 2, 2, 3]))
    assert suspect.category == "select-no-cases" and suspect.confidence >= 0.9


def test_one_snapshot_or_many_flat_goroutines_keep_the_proof() -> None:
    (single,), _ = evaluate(_dumps([1]))
    assert single.confidence >= 0.9  # one dump cannot tell flat from growing
    (many,), _ = evaluate(_dumps([6, 6, 6, 6]), options=Options(min_growth=5))
    assert many.category == "select-no-cases" and many.confidence >= 0.9


def test_a_watch_waits_for_a_second_look_before_a_few_proven_goroutines_are_a_suspect() -> None:
    """A finished run loop was a 0.95 suspect in the first round of every watch (bench/time_to_verdict.py): one
    look cannot tell it from the start of a leak, so a watch keeps it a hint until the next snapshot says."""
    watching = Options(watching=True)
    (first,), _ = evaluate(_dumps([1]), options=watching)
    assert first.category == "select-no-cases" and first.confidence < 0.5
    (flat,), _ = evaluate(_dumps([1, 1]), options=watching)
    assert flat.category == "parked-forever" and flat.confidence < 0.5
    (grown,), _ = evaluate(_dumps([1, 2]), options=watching)
    assert grown.confidence >= 0.9  # the second look grew: a leak
    (many,), _ = evaluate(_dumps([6]), options=watching)
    assert many.confidence >= 0.9  # min_growth proven goroutines at once are a leak at first sight


@pytest.mark.parametrize(("min_growth", "category"), [("5", "parked-forever"), ("1", "select-no-cases")])
def test_goroutines_files_take_min_growth(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, min_growth: str, category: str
) -> None:
    files = []
    for number in range(1, 4):
        files.append(tmp_path / f"dump-{number}.txt")
        files[-1].write_text(_RUN_LOOP.format(id=2))
    assert main(["goroutines", "--json", "--min-growth", min_growth, *map(str, files)]) == 0
    (suspect,) = json.loads(capsys.readouterr().out)["targets"][0]["suspects"]
    assert suspect["category"] == category and (suspect["confidence"] < 0.5) == (category == "parked-forever")


# ---- library-only goroutines named by their creator chain --------------------------------------------------------

_READ_LOOP = (
    "goroutine {id} [select]:\nnet/http.(*persistConn).readLoop(0xc0001)\n\t/go/src/net/http/transport.go:2616 +0xbdb\n"
    "created by net/http.(*Transport).dialConn in goroutine {parent}\n\t/go/src/net/http/transport.go:2123 +0x1da5\n"
)
_ANCESTORS = (
    "[originating from goroutine {parent}]:\nnet/http.(*Transport).dialConnFor(...)\n"
    "\t/go/src/net/http/transport.go:1590 +0x12\ncreated by net/http.(*Transport).queueForDial in goroutine 1\n"
    "\t/go/src/net/http/transport.go:1550 +0x3\n"
    "[originating from goroutine 1]:\nnet/http.(*Client).Get(...)\n\t/go/src/net/http/client.go:491 +0x5f\n"
    "main.fetch(...)\n\t/app/fetch.go:21 +0x51\n"
)
_PARENT = "goroutine 7 [chan receive]:\nmain.dialer()\n\t/app/dial.go:9 +0x1d\n"


def _one(text: str) -> Suspect:
    snapshot = snapshot_from_dump(parse_goroutine_dump(text.encode()))
    suspects, _ = evaluate([snapshot], options=Options(report_threshold=0.0))
    return next(s for s in suspects if "readLoop" in s.evidence.to_json()["bucket"])


def test_a_persist_conn_loop_is_named_by_the_user_line_in_its_ancestors() -> None:
    text = _READ_LOOP.format(id=9, parent=4) + _ANCESTORS.format(parent=4) + "\n"
    suspect = _one(text)
    assert (suspect.file, suspect.line) == ("/app/fetch.go", 21)
    assert suspect.evidence.to_json()["blocking"].startswith("net/http.(*persistConn).readLoop")
    assert "started from user code at fetch.go:21" in suspect.summary


def test_or_by_its_live_parent_goroutine() -> None:
    suspect = _one(_READ_LOOP.format(id=9, parent=7) + "\n" + _PARENT + "\n")
    assert (suspect.file, suspect.line) == ("/app/dial.go", 9)


def test_and_otherwise_says_there_is_no_user_code_to_name() -> None:
    suspect = _one(_READ_LOOP.format(id=9, parent=4) + "\n")
    assert suspect.file.endswith("transport.go") and "no user code in its stack or creator chain" in suspect.summary


def test_a_proto_round_keeps_the_origin_a_debug2_round_found() -> None:
    from leaksleuth.analysis.goroutines.buckets import Window

    found = snapshot_from_dump(parse_goroutine_dump((_READ_LOOP.format(id=9, parent=7) + "\n" + _PARENT).encode()))
    blind = snapshot_from_dump(parse_goroutine_dump(_READ_LOOP.format(id=11, parent=4).encode()), taken_at=10.0)
    window = Window()
    window.add(found)
    window.add(blind)  # as from a proto profile: no creator to follow
    (history,) = [h for h in window.histories() if "readLoop" in h.key]
    assert history.latest.origin is not None and history.latest.origin.file == "/app/dial.go"
