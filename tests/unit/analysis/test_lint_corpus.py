"""The lint corpus (testdata/lint/<slug>/): every `// want "slug"` line is flagged with that slug, and nothing else
is, in the style of go vet's analysistest. The expected counts are exact: a pattern that starts missing a leak or
flagging a fixed variant changes them, and the README's recall/precision table with them."""

from __future__ import annotations

import re
from pathlib import Path

from leaksleuth.analysis.source.lint import RULES, lint_source

CORPUS = Path(__file__).resolve().parents[3] / "testdata" / "lint"
_WANT = re.compile(r'// want "([\w-]+)"')

# slug -> (leaking lines marked `want`, of them flagged, findings on any other line)
EXPECTED = {
    "body-not-closed": (2, 2, 0),
    "chan-never-closed": (2, 2, 0),
    "context-not-propagated": (2, 2, 0),
    "grow-only-global": (3, 3, 0),
    "lost-cancel": (3, 3, 0),
    "send-no-receiver": (2, 2, 0),
    "ticker-not-stopped": (3, 3, 0),
    "unbounded-goroutines": (3, 3, 0),
    "unlock-missing": (2, 2, 0),
    "waitgroup-misuse": (3, 3, 0),
    "worker-no-exit": (2, 2, 0),
}


def wanted(path: Path) -> set[tuple[int, str]]:
    lines = path.read_text().splitlines()
    return {(number, m.group(1)) for number, text in enumerate(lines, 1) for m in _WANT.finditer(text)}


def score(slug: str) -> tuple[int, int, int]:
    want: set[tuple[str, int, str]] = set()
    got: set[tuple[str, int, str]] = set()
    for path in sorted((CORPUS / slug).glob("*.go")):
        want |= {(str(path), line, marked) for line, marked in wanted(path)}
        got |= {(str(path), f.line, f.slug) for f in lint_source(str(path), path.read_bytes())}
    return len(want), len(want & got), len(got - want)


def test_every_slug_has_a_corpus_and_every_corpus_a_slug() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(RULES) == sorted(EXPECTED)


def test_corpus_recall_and_precision_per_pattern_are_exactly_as_recorded() -> None:
    assert {slug: score(slug) for slug in EXPECTED} == EXPECTED


def test_want_markers_name_only_their_own_directorys_slug() -> None:
    for slug in EXPECTED:
        for path in (CORPUS / slug).glob("*.go"):
            assert {s for _, s in wanted(path)} == {slug}, path
