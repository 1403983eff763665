"""Runtime suspects explained by the source: the finding at the suspect's line goes into its evidence, summary and
advice and raises its confidence; a send the source proves bounded lowers it; no readable source, no change."""

from __future__ import annotations

from pathlib import Path

from leaksleuth.analysis.evidence import fuse
from leaksleuth.analysis.source.fusion import BOUNDED_FACTOR, INFERRED_CEILING, SOURCE_WEIGHT, explain
from leaksleuth.model.evidence import GoroutineEvidence
from leaksleuth.model.report import Suspect
from tests.conftest import ROOT

CORPUS = ROOT / "testdata" / "lint"
SEND = CORPUS / "send-no-receiver" / "send.go"
GLOBAL = CORPUS / "grow-only-global" / "global.go"


def _line(path: Path, needle: str, occurrence: int = 0) -> int:
    return [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text][occurrence]


def _read(path: str) -> bytes | None:
    return Path(path).read_bytes() if Path(path).is_file() else None


def _goroutine(file: Path, line: int, confidence: float, used: tuple[str, ...] = ("growth",)) -> Suspect:
    return Suspect(
        "goroutine",
        "chan-send",
        "lintcorpus/send-no-receiver.withTimeout.func1",
        str(file),
        line,
        confidence,
        f"7 goroutines blocked in chan send at {file.name}:{line}",
        GoroutineEvidence(used=list(used), advice="Give the send a way out."),
    )


def test_a_pattern_at_the_blocked_line_explains_the_suspect_and_raises_it() -> None:
    line = _line(SEND, 'result <- compute() // want "send-no-receiver"')
    suspect = _goroutine(SEND, line, 0.6)
    [explained] = explain([suspect], _read)
    source = explained.evidence.to_json()["source"]
    assert source["slug"] == "send-no-receiver"
    assert "once the receiver at line" in source["why"] and "returns on time.After" in source["why"]
    assert source["fix"].startswith("make the channel buffered")
    assert source["lines"][0] == line and len(source["lines"]) == 3
    assert f"send.go:{line}: send on unbuffered result blocks for ever" in explained.summary
    assert explained.evidence.advice.startswith("Make the channel buffered")
    assert explained.evidence.advice.endswith("Give the send a way out.")
    assert explained.confidence == round(fuse([0.6, SOURCE_WEIGHT]), 3)
    assert "source-pattern" in explained.evidence.used
    assert suspect.evidence.source is None and suspect.confidence == 0.6  # the input is left as it was


def test_a_pattern_alone_makes_no_suspect() -> None:
    # a hint (0.4) that the source explains stays a hint: 0.58 would make a warm-up cache a "likely leak"
    line = _line(GLOBAL, 'sessions[id] = data // want "grow-only-global"')
    hint = Suspect("heap", "map-growth", "lintcorpus/grow-only-global.remember", str(GLOBAL), line, 0.4, "plateau")
    [explained] = explain([hint], _read)
    assert explained.confidence == 0.49 and explained.evidence.source.slug == "grow-only-global"


def test_inference_never_passes_the_runtime_proof() -> None:
    line = _line(SEND, 'result <- compute() // want "send-no-receiver"')
    [explained] = explain([_goroutine(SEND, line, 0.92)], _read)  # noisy-OR: 0.944
    assert explained.confidence == INFERRED_CEILING
    [proven] = explain([_goroutine(SEND, line, 0.97, ("runtime-proven",))], _read)
    assert proven.confidence == 0.97 and proven.evidence.source.slug == "send-no-receiver"


def test_a_send_buffered_for_its_senders_lowers_the_suspect() -> None:
    # withTimeoutBuffered: make(chan int, 1) and one sender: that send cannot block for ever
    line = _line(SEND, "result <- compute()", 1)
    [explained] = explain([_goroutine(SEND, line, 0.6)], _read)
    assert explained.evidence.to_json()["source"] == {
        "bounded": "result is buffered (cap 1) for its 1 sender(s): no send blocks"
    }
    assert explained.confidence == round(0.6 * BOUNDED_FACTOR, 3)
    assert "but result is buffered" in explained.summary
    [proven] = explain([_goroutine(SEND, line, 0.95, ("runtime-proven",))], _read)
    assert proven.confidence == 0.95  # the runtime saw them unreachable: a bound the source shows is not the story


def test_a_select_with_default_lowers_the_suspect(tmp_path: Path) -> None:
    path = tmp_path / "d.go"
    path.write_text("package p\n\nfunc f(c chan int) {\n\tselect {\n\tcase c <- 1:\n\tdefault:\n\t}\n}\n")
    [explained] = explain([_goroutine(path, 5, 0.4)], _read)
    assert "default case" in explained.evidence.source.bounded and explained.confidence == 0.2


def test_a_heap_site_gets_the_grow_only_global_finding() -> None:
    line = _line(GLOBAL, 'sessions[id] = data // want "grow-only-global"')
    heap = Suspect("heap", "map-growth", "lintcorpus/grow-only-global.remember", str(GLOBAL), line, 0.85, "+3 MiB/min")
    [explained] = explain([heap], _read)
    assert explained.evidence.source.slug == "grow-only-global"
    assert explained.evidence.advice.startswith("Bound it: delete entries")


def test_no_readable_source_changes_nothing_and_unrelated_lines_get_nothing() -> None:
    absent = _goroutine(Path("/nonexistent/send.go"), 15, 0.6)
    unrelated = _goroutine(SEND, 1, 0.6)  # the package clause: no finding near it
    assert explain([absent, unrelated], _read) == [absent, unrelated]
    assert explain([absent], _read)[0] is absent


def test_related_suspects_are_explained_too_and_the_list_is_reranked() -> None:
    line = _line(SEND, 'result <- compute() // want "send-no-receiver"')
    weak = _goroutine(Path("/nonexistent/x.go"), 1, 0.55)
    parent = Suspect("heap", "growth", "f", "/nonexistent/y.go", 3, 0.5, "s", related=[_goroutine(SEND, line, 0.3)])
    ranked = explain([weak, parent, _goroutine(SEND, line, 0.5)], _read)
    assert [s.confidence for s in ranked] == [0.65, 0.55, 0.5]
    assert ranked[2].related[0].evidence.source.slug == "send-no-receiver"
