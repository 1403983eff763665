"""``goroutines --source-root``: a real goroutineleak dump whose build paths do not exist here gets no source
explanation; mapped to this checkout (by prefix, or by searching a directory), every suspect on a line a pattern
names carries it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leaksleuth.cli.main import main
from tests.conftest import CAPTURES, ROOT

BUILD = "/nonexistent-build"
EXPLAINED = {
    ("leaks.go", 20): "send-no-receiver",
    ("leaks.go", 32): "chan-never-closed",
    ("leaks.go", 42): "chan-never-closed",
    ("leaks.go", 53): "waitgroup-misuse",
}


@pytest.fixture
def moved_dump(tmp_path: Path) -> Path:
    """The capture as if built elsewhere: its file names under a prefix that exists on no machine."""
    text = (CAPTURES / "parked.goroutineleak.debug2.txt").read_text()
    original = text.split("testdata/go/parked/", 1)[0].rsplit("\t", 1)[-1]  # the capture machine's checkout
    path = tmp_path / "moved.txt"
    path.write_text(text.replace(original, f"{BUILD}/"))
    return path


def _suspects(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["goroutines", "--json", *args]) == 0
    document = json.loads(capsys.readouterr().out)
    suspects: list[dict[str, Any]] = document["targets"][0]["suspects"]
    return suspects


def _slugs(suspects: list[dict[str, Any]]) -> dict[tuple[str, int], str | None]:
    return {(Path(s["file"]).name, s["line"]): (s["evidence"].get("source") or {}).get("slug") for s in suspects}


def test_absent_source_gives_no_explanation(capsys: pytest.CaptureFixture[str], moved_dump: Path) -> None:
    suspects = _suspects(capsys, str(moved_dump))
    assert len(suspects) == 6 and all(s["file"].startswith(BUILD) for s in suspects)
    assert set(_slugs(suspects).values()) == {None}


@pytest.mark.parametrize("root", [f"{BUILD}={ROOT}", str(ROOT / "testdata")])
def test_mapped_source_explains_every_suspect_a_pattern_names(
    capsys: pytest.CaptureFixture[str], moved_dump: Path, root: str
) -> None:
    suspects = _suspects(capsys, str(moved_dump), "--source-root", root)
    slugs = _slugs(suspects)
    assert {site: slug for site, slug in slugs.items() if slug} == EXPLAINED
    send = next(s for s in suspects if s["line"] == 20)
    assert "leaks.go:20: send on unbuffered result blocks for ever once the receiver at line 24" in send["summary"]
    assert send["evidence"]["advice"].startswith("Make the channel buffered")
    assert send["file"].startswith(BUILD)  # the suspect still names the file as the profile does
    assert send["confidence"] == 0.95  # runtime-proven already: a pattern adds the why, not certainty


def test_a_bad_source_root_is_a_usage_error(capsys: pytest.CaptureFixture[str], moved_dump: Path) -> None:
    assert main(["goroutines", str(moved_dump), "--source-root", "/x=/nonexistent/dir"]) == 2
    assert "is not a directory" in capsys.readouterr().err
