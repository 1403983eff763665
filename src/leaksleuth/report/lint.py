"""``leaksleuth lint`` output: a terminal listing like ``go vet``'s, ``leaksleuth/lint@1`` JSON, and SARIF 2.1.0.

The view-model is ``LintResult`` (findings by file, files that could not be read); the three renderers read only
it. Source text is hostile like any input: the terminal gets it through ``data_text`` (never markup), JSON and SARIF
through ``json.dumps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from leaksleuth import __version__
from leaksleuth.analysis.source.findings import SEVERITIES, Finding, Severity
from leaksleuth.analysis.source.lint import RULES

if TYPE_CHECKING:
    from rich.console import Console

LINT_SCHEMA = "leaksleuth/lint@1"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SARIF_LEVEL = {"note": "note", "warning": "warning", "error": "error"}


@dataclass(slots=True)
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): not an error
    files: int = 0
    lines: int = 0

    def at_or_above(self, severity: Severity) -> list[Finding]:
        floor = SEVERITIES.index(severity)
        return [f for f in self.findings if SEVERITIES.index(f.severity) >= floor]


def render_terminal(console: Console, result: LintResult) -> None:
    """``file:line: slug: why`` then the fix and the other lines involved, as ``go vet`` lists its findings."""
    from leaksleuth.report.terminal import data_text

    for finding in result.findings:
        console.print(
            data_text(
                (f"{finding.file}:{finding.line}", "bold"),
                ": ",
                (finding.slug, "yellow" if finding.severity == "warning" else "red"),
                f": {finding.message}",
            ),
            soft_wrap=True,
        )
        for related in finding.related:
            console.print(data_text(f"    {finding.file}:{related.line}: ", (related.note, "dim")), soft_wrap=True)
        console.print(data_text("    fix: ", (finding.fix, "green")), soft_wrap=True)
    for path, why in result.skipped:
        console.print(data_text((f"{path}: skipped: {why}", "dim")), soft_wrap=True)
    for path, why in result.unreadable:
        console.print(data_text((f"{path}: cannot read: {why}", "red")), soft_wrap=True)
    noun = "finding" if len(result.findings) == 1 else "findings"
    console.print(
        data_text(
            (f"{len(result.findings)} {noun}", "bold"),
            f" in {result.files} file{'s' if result.files != 1 else ''} ({result.lines:,} lines)",
            f"; {len(result.unreadable)} could not be read" if result.unreadable else "",
        )
    )


def to_json(result: LintResult) -> dict[str, Any]:
    return {
        "schema": LINT_SCHEMA,
        "files": result.files,
        "lines": result.lines,
        "findings": [f.to_json() for f in result.findings],
        "unreadable": [{"file": path, "error": why} for path, why in result.unreadable],
        "skipped": [{"file": path, "reason": why} for path, why in result.skipped],
    }


def _uri(path: str) -> tuple[str, str | None]:
    """A SARIF artifact URI: relative to the working directory (``%SRCROOT%``) when it can be, else ``file://``."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return quote(PurePosixPath(candidate.as_posix()).as_posix().removeprefix("./")), "%SRCROOT%"
    try:
        return quote(candidate.relative_to(Path.cwd()).as_posix()), "%SRCROOT%"
    except ValueError:
        return candidate.as_uri(), None


def _location(path: str, line: int, message: str | None = None, index: int | None = None) -> dict[str, Any]:
    uri, base = _uri(path)
    artifact: dict[str, Any] = {"uri": uri}
    if base is not None:
        artifact["uriBaseId"] = base
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": line}}}
    if index is not None:
        location["id"] = index
    if message is not None:
        location["message"] = {"text": message}
    return location


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "id": slug,
            "name": "".join(part.title() for part in slug.split("-")),
            "shortDescription": {"text": description},
            "help": {"text": f"leaksleuth lint rule {slug}: {description}"},
            "defaultConfiguration": {"level": "warning"},
        }
        for slug, description in RULES.items()
    ]


def to_sarif(result: LintResult) -> dict[str, Any]:
    """A SARIF 2.1.0 log (one run) for code-scanning UIs; the fix goes into the message, the other lines involved
    into ``relatedLocations``."""
    slugs = list(RULES)
    results = []
    for finding in result.findings:
        entry: dict[str, Any] = {
            "ruleId": finding.slug,
            "level": _SARIF_LEVEL[finding.severity],
            "message": {"text": f"{finding.message}. Fix: {finding.fix}"},
            "locations": [_location(finding.file, finding.line)],
            "partialFingerprints": {"leaksleuth/v1": f"{finding.slug}:{finding.function}:{finding.message}"},
        }
        if finding.slug in RULES:
            entry["ruleIndex"] = slugs.index(finding.slug)
        if finding.related:
            entry["relatedLocations"] = [
                _location(finding.file, r.line, r.note, index) for index, r in enumerate(finding.related)
            ]
        results.append(entry)
    notifications = [
        {"level": "error", "message": {"text": f"cannot read: {why}"}, "locations": [_location(path, 1)]}
        for path, why in result.unreadable
    ] + [
        {"level": "note", "message": {"text": f"skipped: {why}"}, "locations": [_location(path, 1)]}
        for path, why in result.skipped
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "leaksleuth",
                "version": __version__,
                "rules": _rules(),
            }
        },
        "invocations": [
            {"executionSuccessful": not result.unreadable, "toolExecutionNotifications": notifications},
        ],
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
