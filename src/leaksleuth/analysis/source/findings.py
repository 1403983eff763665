"""What a source pattern reports, and running every pattern over one file (pure: text in, findings out)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["note", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("note", "warning", "error")


@dataclass(frozen=True, slots=True)
class Related:
    line: int
    note: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One leak pattern at one place: ``line`` is where to fix it, ``related`` the other lines that make it a leak."""

    slug: str
    file: str
    line: int
    function: str
    message: str  # one line: what leaks and why
    fix: str  # one line: what to change
    related: tuple[Related, ...] = ()
    severity: Severity = "warning"

    @property
    def lines(self) -> tuple[int, ...]:
        return (self.line, *(r.line for r in self.related))

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "function": self.function,
            "message": self.message,
            "fix": self.fix,
            "related": [{"line": r.line, "note": r.note} for r in self.related],
        }


# `//leaksleuth:ignore slug[,slug] reason` on the finding's line or the line above it (a reason is required, as
# staticcheck's //lint:ignore asks: an ignore without one says nothing to the next reader)
_IGNORE = re.compile(r"//\s*leaksleuth:ignore\s+([\w,-]+)\s+\S")


def ignored_lines(lines: list[str]) -> dict[int, frozenset[str]]:
    """1-based line -> slugs ignored there (``all`` ignores every slug)."""
    found: dict[int, frozenset[str]] = {}
    for number, text in enumerate(lines, 1):
        if "leaksleuth:ignore" not in text:
            continue
        match = _IGNORE.search(text)
        if match is None:
            continue
        slugs = frozenset(match.group(1).split(","))
        found[number] = found.get(number, frozenset()) | slugs
        if text.lstrip().startswith("//"):  # a comment line alone covers the line below it
            found[number + 1] = found.get(number + 1, frozenset()) | slugs
    return found
