"""Runtime suspects explained by the source: the lint finding at (or near) the line a suspect names.

A goroutine bucket names the line it is blocked on, a heap site the line that allocates. When that file is readable
(``read`` gives its bytes, or None), the patterns run over it and the finding that involves the line goes into the
suspect: its evidence (``source``: slug, why, fix, the lines involved), its summary and its advice. Confidence:

- a pattern that explains the line raises it (one more independent signal, ``SOURCE_WEIGHT`` in the noisy-OR), but
  never past ``INFERRED_CEILING`` (the source says how it *can* leak, only the runtime proves that it did), and
  never from below ``SUSPECT_CONFIDENCE`` to it: a pattern alone makes no suspect (a warm-up cache is a map that
  only grows, and its plateau says it is done);
- a send the source proves cannot block for ever (a select with a default case; a channel buffered for all its
  senders — LeakProf's AST filter) lowers it by ``BOUNDED_FACTOR``, unless the runtime proved the goroutines leaked.

Pure: the caller reads the files (``collect.source.SourceFiles.read``, with its ``--source-root`` mapping).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from leaksleuth.analysis.evidence import fuse
from leaksleuth.model.evidence import GoroutineEvidence
from leaksleuth.model.evidence_base import SourceNote
from leaksleuth.model.report import Suspect
from leaksleuth.model.verdict import SUSPECT_CONFIDENCE

if TYPE_CHECKING:
    from leaksleuth.analysis.source.findings import Finding

SourceReader = Callable[[str], bytes | None]

SOURCE_KIND = "source-pattern"
SOURCE_WEIGHT = 0.3
INFERRED_CEILING = 0.94  # just below the goroutine verdict's PROVEN_FLOOR: proof still outranks a pattern
BOUNDED_FACTOR = 0.5
NEAR_LINES = 6  # a finding this close, in the same function, explains a line none of its lines names


@dataclass(frozen=True, slots=True)
class Analysed:
    findings: tuple[Finding, ...]
    bounded: Callable[[int], str | None]  # line -> why the send there cannot block for ever


@functools.lru_cache(maxsize=128)  # keyed by the bytes: an edited file is analysed again, an unchanged one not
def _analyse(path: str, source: bytes) -> Analysed | None:
    try:
        from leaksleuth.analysis.source.channels import bounded_send
        from leaksleuth.analysis.source.lint import lint_parsed
        from leaksleuth.analysis.source.syntax import parse

        parsed = parse(path, source)
    except ImportError:  # pragma: no cover - tree-sitter is a base dependency; a broken install loses only this
        return None
    return Analysed(tuple(lint_parsed(parsed)), functools.partial(bounded_send, parsed))


def explain(suspects: Sequence[Suspect], read: SourceReader) -> list[Suspect]:
    """``suspects`` (and their related suspects), each with its source explanation when its file is readable;
    re-ranked by confidence (a stable sort: equal ones keep their order)."""
    cache: dict[str, Analysed | None] = {}

    def analysed(file: str) -> Analysed | None:
        if file not in cache:
            source = read(file)
            cache[file] = _analyse(file, source) if source is not None else None
        return cache[file]

    explained = [_explained(suspect, analysed) for suspect in suspects]
    return sorted(explained, key=lambda s: -s.confidence)


def _explained(suspect: Suspect, analysed: Callable[[str], Analysed | None]) -> Suspect:
    """A copy of ``suspect`` with its explanation (the input is left as it was: reports may be cached)."""
    related = [_explained(r, analysed) for r in suspect.related]
    found = analysed(suspect.file) if suspect.located and suspect.file.endswith(".go") else None
    finding = match(found.findings, suspect.line, _created_line(suspect), suspect.function) if found else None
    bounded = found.bounded(suspect.line) if found is not None and suspect.kind == "goroutine" else None
    if finding is None and bounded is None:
        changed = any(a is not b for a, b in zip(related, suspect.related, strict=True))
        return replace(suspect, related=related) if changed else suspect
    copied = replace(suspect, evidence=copy.deepcopy(suspect.evidence), related=related)
    if finding is not None:
        _attach(copied, finding)
    if bounded is not None:
        _lower(copied, bounded)
    return copied


def match(findings: Sequence[Finding], line: int, created_line: int | None, function: str) -> Finding | None:
    """The finding that explains ``line``: one whose own line it is, else one that involves it (a related line),
    else one that involves the line the goroutines were created on, else the nearest in the same function."""
    for wanted in (line, created_line):
        if wanted is None:
            continue
        exact = [f for f in findings if f.line == wanted]
        involved = [f for f in findings if wanted in f.lines]
        if exact or involved:
            return (exact or involved)[0]
    parts = set(function.rsplit("/", 1)[-1].split("."))
    near = [f for f in findings if abs(f.line - line) <= NEAR_LINES and f.function in parts]
    return min(near, key=lambda f: abs(f.line - line)) if near else None


def _created_line(suspect: Suspect) -> int | None:
    """The ``go`` statement's line, when the goroutines were created in the suspect's own file."""
    created = suspect.evidence.created_by if isinstance(suspect.evidence, GoroutineEvidence) else None
    if created is None or " " not in created:
        return None
    site = created.rsplit(" ", 1)[-1]
    file, _, number = site.rpartition(":")
    return int(number) if file == suspect.file and number.isdigit() else None


def _used(suspect: Suspect, kind: str, weight: float) -> None:
    if kind not in suspect.evidence.used:
        suspect.evidence.used.append(kind)
    suspect.evidence.weights[kind] = round(weight, 3)


def _attach(suspect: Suspect, finding: Finding) -> None:
    base = PurePosixPath(suspect.file).name
    suspect.evidence.source = SourceNote(
        finding.slug,
        finding.message,
        finding.fix,
        finding.line,
        tuple(finding.lines),
        tuple((r.line, r.note) for r in finding.related),
    )
    suspect.summary += f"; {base}:{finding.line}: {finding.message}"
    advice = suspect.evidence.advice
    fix = finding.fix[:1].upper() + finding.fix[1:]
    suspect.evidence.advice = f"{fix} ({finding.slug}, {base}:{finding.line})." + (f" {advice}" if advice else "")
    _used(suspect, SOURCE_KIND, SOURCE_WEIGHT)
    ceiling = INFERRED_CEILING if suspect.confidence >= SUSPECT_CONFIDENCE else SUSPECT_CONFIDENCE - 0.01
    raised = fuse([suspect.confidence, SOURCE_WEIGHT])
    suspect.confidence = round(max(suspect.confidence, min(raised, ceiling)), 3)


def _lower(suspect: Suspect, reason: str) -> None:
    if suspect.evidence.source is None:
        suspect.evidence.source = SourceNote()
    suspect.evidence.source.bounded = reason
    suspect.summary += f"; but {reason}"
    if "runtime-proven" in suspect.evidence.used:
        return  # the runtime saw them unreachable: the source's proof of a bound is about another path
    _used(suspect, "source-bounded", BOUNDED_FACTOR)
    suspect.confidence = round(suspect.confidence * BOUNDED_FACTOR, 3)
