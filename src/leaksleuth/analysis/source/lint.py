"""Every source pattern over one Go file (pure: bytes in, findings out), minus ``//leaksleuth:ignore`` ones."""

from __future__ import annotations

from collections.abc import Callable

from leaksleuth.analysis.source import channels, resources, syncing
from leaksleuth.analysis.source.findings import Finding, ignored_lines
from leaksleuth.analysis.source.syntax import GoFile, parse

CHECKS: tuple[Callable[[GoFile], list[Finding]], ...] = (*channels.CHECKS, *resources.CHECKS, *syncing.CHECKS)


def _is_ignored(finding: Finding, ignores: dict[int, frozenset[str]]) -> bool:
    slugs = ignores.get(finding.line, frozenset())
    return finding.slug in slugs or "all" in slugs


def lint_source(path: str, source: bytes) -> list[Finding]:
    """Every pattern's findings in one Go file, minus ``//leaksleuth:ignore`` ones, by line."""
    parsed = parse(path, source)
    found = [finding for check in CHECKS for finding in check(parsed)]
    if b"leaksleuth:ignore" in source:
        ignores = ignored_lines(parsed.lines())
        found = [f for f in found if not _is_ignored(f, ignores)]
    unique = {(f.slug, f.line, f.message): f for f in found}
    return sorted(unique.values(), key=lambda f: (f.line, f.slug))
