"""Every source pattern over one Go file (pure: bytes in, findings out), minus ``//leaksleuth:ignore`` ones."""

from __future__ import annotations

from collections.abc import Callable

from leaksleuth.analysis.source import channels, resources, syncing, workers
from leaksleuth.analysis.source.findings import Finding, ignored_lines
from leaksleuth.analysis.source.syntax import GoFile, parse

CHECKS: tuple[Callable[[GoFile], list[Finding]], ...] = (
    *channels.CHECKS,
    *workers.CHECKS,
    *resources.CHECKS,
    *syncing.CHECKS,
)

# every slug a check reports, with the one line a code-scanning UI shows as the rule's name (SARIF rules, --json)
RULES: dict[str, str] = {
    "send-no-receiver": "a goroutine sends on an unbuffered channel whose receiver can return first",
    "chan-never-closed": "a receive or range over a channel that nothing closes or sends on",
    "unbounded-goroutines": "one goroutine per message or request with no bound",
    "worker-no-exit": "a goroutine with select {} or a for {} it never leaves",
    "ticker-not-stopped": "a time.Ticker/Timer never stopped, or time.Tick in a function that returns",
    "lost-cancel": "the cancel of context.WithCancel/Timeout/Deadline not called on every path",
    "context-not-propagated": "a goroutine started by a handler with context.Background()/TODO()",
    "body-not-closed": "an http.Response body not closed on every path",
    "waitgroup-misuse": "wg.Add inside the goroutine, or a wg.Done that a path skips",
    "unlock-missing": "a mutex locked with a return before its Unlock and no defer",
    "grow-only-global": "a package-level map, sync.Map or slice that is only ever added to",
}


def _is_ignored(finding: Finding, ignores: dict[int, frozenset[str]]) -> bool:
    slugs = ignores.get(finding.line, frozenset())
    return finding.slug in slugs or "all" in slugs


def lint_parsed(parsed: GoFile) -> list[Finding]:
    """Every pattern's findings in one parsed Go file, minus ``//leaksleuth:ignore`` ones, by line."""
    found = [finding for check in CHECKS for finding in check(parsed)]
    if b"leaksleuth:ignore" in parsed.source:
        ignores = ignored_lines(parsed.lines())
        found = [f for f in found if not _is_ignored(f, ignores)]
    unique = {(f.slug, f.line, f.message): f for f in found}
    return sorted(unique.values(), key=lambda f: (f.line, f.slug))


def lint_source(path: str, source: bytes) -> list[Finding]:
    """Every pattern's findings in one Go file, minus ``//leaksleuth:ignore`` ones, by line."""
    return lint_parsed(parse(path, source))
