"""One verdict per root cause: series findings attach to the sites that explain them. Pure.

A leak is often seen three ways at once: a goroutine bucket grows, so the stacks and the state those goroutines hold
grow, so the heap goal and RSS grow. The series detectors see the last two without a line to fix; the bucket and
the heap sites name one. Here every site-less (series) finding is charged to the site-level suspects that account
for its growth:

- heap goal (``next_gc``): the pacer sets it to live heap + (live heap + stacks) x GOGC/100, so at the default
  GOGC=100 a heap site growing by B explains 2B of it and a goroutine bucket growing by N explains N x stack size;
- heap in use / allocated: heap sites only (goroutine stacks are not heap);
- RSS (``rss-up-gc-stalled``): heap sites and goroutine stacks;
- goroutine count: goroutine buckets (a merged net/http read+write pair counts both).

The sites are taken largest first until they explain half of the growth. Then the finding is attached to them: each
gets ``explains`` evidence ("explains 92% of heap growth") and its confidence rises by the finding's confidence
times its share (noisy-OR), and the finding itself is kept in the first site's ``related`` list instead of being
ranked beside it. When no set of sites explains half, the finding stands on its own and its summary says what was
looked at and why no line is named.

Same-cause sites fold as well: growing heap sites of one function become one suspect at the site holding the most
(a map and the keys stored in it); a heap site on the line a goroutine suspect names, and heap growth with no
user-code site while goroutines leak (their own stacks and state), become ``related`` of that goroutine suspect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leaksleuth.analysis.evidence import EXPLAINS_ENOUGH, SUSPECT_CONFIDENCE, fuse
from leaksleuth.analysis.humanize import human_bytes, human_count
from leaksleuth.model.evidence import GoroutineEvidence
from leaksleuth.model.evidence_base import Explained, Explains
from leaksleuth.model.heap_report import HeapSiteEvidence
from leaksleuth.model.report import Suspect
from leaksleuth.model.series import SeriesEvidence

DEFAULT_STACK_BYTES = 8192  # a goroutine's stack starts at 8 KiB; parked leaks rarely grow it

# which metric of a series finding the sites are compared with: (heap site factor, counts goroutine stacks)
_BYTES_METRICS = {"next_gc": (2.0, True), "heap_inuse": (1.0, False), "heap_alloc": (1.0, False)}
_RSS_METRICS = ("rss_bytes", "container_working_set_bytes")


@dataclass(frozen=True, slots=True)
class Growth:
    """What a series finding says grew, in the unit sites can be compared with."""

    metric: str
    amount: float  # bytes, or goroutines
    words: str  # "heap growth", "goroutine growth", "RSS growth"


def attribute(
    goroutines: Sequence[Suspect],
    heap: Sequence[Suspect],
    series: Sequence[Suspect],
    *,
    stack_bytes: float | None = None,
    heap_profiled: bool = True,
) -> list[Suspect]:
    """The suspects of one instance, one per root cause (the others in ``related``), unsorted.

    ``stack_bytes``: the stack size of one goroutine (stack in use / goroutines when the target reports them);
    ``heap_profiled``: whether the target served heap profiles at all (said in a site-less summary)."""
    stack = stack_bytes if stack_bytes and stack_bytes > 0 else DEFAULT_STACK_BYTES
    kept_goroutines = list(goroutines)
    kept_heap = _fold_heap_into_goroutines(kept_goroutines, _fold_same_function(heap))
    located = kept_goroutines + kept_heap
    standing: list[Suspect] = []
    for finding in series:
        growth = series_growth(finding)
        if growth is None:
            standing.append(finding)
            continue
        shares = _explaining(growth, kept_goroutines, kept_heap, stack)
        if sum(share for _, share in shares) < EXPLAINS_ENOUGH:
            standing.append(_unexplained(finding, growth, shares, located, heap_profiled=heap_profiled))
            continue
        for suspect, share in shares:
            _credit(suspect, finding, growth, share)
        shares[0][0].related.append(finding)
    return located + standing


def series_growth(finding: Suspect) -> Growth | None:
    """The growth a site-less finding names (its leading signal), or None when it names none to compare."""
    if not isinstance(finding.evidence, SeriesEvidence):
        return None
    named = next((s for s in finding.evidence.signals if s.category == finding.category and s.growth is not None), None)
    if named is None or named.growth is None:
        return None
    metric, amount = named.metric, named.growth
    if amount <= 0:
        return None
    if metric == "goroutines":
        return Growth(metric, amount, "goroutine growth")
    if metric in _BYTES_METRICS:
        return Growth(metric, amount, "heap growth")
    if metric in _RSS_METRICS:
        return Growth(metric, amount, "RSS growth")
    return None  # memory outside the Go heap (and anything new): no site can account for it


def _fold_same_function(heap: Sequence[Suspect]) -> list[Suspect]:
    """Growing heap sites of one user function are one cause (a map and the keys stored in it, a slice and its
    elements): the site holding the most growth names it, with the group's highest confidence; the others are its
    ``related``. Library sites stay apart (many callers share them)."""
    groups: dict[tuple[str, str], list[Suspect]] = {}
    kept: list[Suspect] = []
    for site in heap:
        if _user_code(site) and site.function and site.located:
            groups.setdefault((site.function, site.file), []).append(site)
        else:
            kept.append(site)
    for group in groups.values():
        primary = max(group, key=_growth_bytes)
        primary.confidence = max(s.confidence for s in group)
        primary.related.extend(s for s in group if s is not primary)
        kept.append(primary)
    return kept


def _fold_heap_into_goroutines(goroutines: list[Suspect], heap: list[Suspect]) -> list[Suspect]:
    """Heap sites that are the goroutine leak seen in the heap go to that suspect's ``related``; the rest stay."""
    leaking = [g for g in goroutines if g.confidence >= SUSPECT_CONFIDENCE]
    if not leaking:
        return heap
    strongest = max(leaking, key=lambda g: g.confidence)
    kept = []
    for site in heap:
        same_line = next((g for g in leaking if g.located and (g.file, g.line) == (site.file, site.line)), None)
        owner = same_line or (strongest if not _user_code(site) else None)
        if owner is None:
            kept.append(site)
        else:
            owner.related.append(site)
    return kept


def _user_code(site: Suspect) -> bool:
    """A heap site in user code (any other suspect counts as one)."""
    return not isinstance(site.evidence, HeapSiteEvidence) or site.evidence.user_code


def _growth_bytes(suspect: Suspect) -> float:
    return float(suspect.evidence.growth_bytes) if isinstance(suspect.evidence, HeapSiteEvidence) else 0.0


def _goroutine_growth(suspect: Suspect) -> float:
    """Goroutines the bucket gained in the window (both halves of a merged net/http read+write pair)."""
    evidence = suspect.evidence
    if not isinstance(evidence, GoroutineEvidence):
        return 0.0
    gained, count = evidence.gained, evidence.count
    if gained <= 0 or count <= 0:
        return 0.0
    return gained * (count + (evidence.related_count or 0)) / count


def _heap_growth(suspect: Suspect) -> float:
    """Bytes the site and the same-cause heap sites folded into it gained."""
    own = _growth_bytes(suspect) if suspect.kind == "heap" else 0.0
    folded = sum(_growth_bytes(r) for r in suspect.related if r.kind == "heap")
    return max(0.0, own) + max(0.0, folded)


def _explaining(
    growth: Growth, goroutines: Sequence[Suspect], heap: Sequence[Suspect], stack: float
) -> list[tuple[Suspect, float]]:
    """The fewest sites, largest first, that together explain at least half of ``growth`` (all of them when they do
    not), each with its share (0–1, a share can exceed what it covers alone only through rounding: capped at 1)."""
    contributions: list[tuple[Suspect, float]] = []
    if growth.metric == "goroutines":
        contributions = [(g, _goroutine_growth(g)) for g in goroutines]
    else:
        factor, stacks = _BYTES_METRICS.get(growth.metric, (1.0, True))
        for suspect in [*goroutines, *heap]:
            amount = factor * _heap_growth(suspect)
            if suspect.kind == "goroutine" and stacks:
                amount += _goroutine_growth(suspect) * stack
            contributions.append((suspect, amount))
    contributions = sorted((c for c in contributions if c[1] > 0), key=lambda c: -c[1])
    chosen: list[tuple[Suspect, float]] = []
    covered = 0.0
    for suspect, amount in contributions:
        share = min(1.0, amount / growth.amount)
        chosen.append((suspect, share))
        covered += share
        if covered >= EXPLAINS_ENOUGH:
            break
    return chosen


def _credit(suspect: Suspect, finding: Suspect, growth: Growth, share: float) -> None:
    """The site explains ``share`` of the finding: say so, and let the finding raise its confidence."""
    percent = f"{share:.0%}"
    suspect.evidence.explains.append(
        Explains(round(share, 3), growth.words, growth.metric, finding.category, finding.confidence, finding.summary)
    )
    suspect.evidence.used.append(f"explains-{finding.category}")
    suspect.summary += f"; explains {percent} of {growth.words} ({finding.summary})"
    suspect.confidence = round(fuse([suspect.confidence, finding.confidence * share]), 3)


def _unexplained(
    finding: Suspect,
    growth: Growth,
    shares: Sequence[tuple[Suspect, float]],
    located: Sequence[Suspect],
    *,
    heap_profiled: bool,
) -> Suspect:
    """The finding on its own, its summary saying what was compared and why no line is named."""
    covered = sum(share for _, share in shares)
    heap_sites = sum(1 for s in located if s.kind == "heap")
    buckets = sum(1 for s in located if s.kind == "goroutine")
    if growth.metric == "goroutines":
        looked = f"{buckets} growing goroutine bucket{'s' if buckets != 1 else ''} explain {covered:.0%}"
    elif not heap_profiled:
        looked = f"no heap profile served, so no allocation line; {buckets} goroutine bucket(s) explain {covered:.0%}"
    else:
        looked = f"{heap_sites} growing heap site(s) and {buckets} goroutine bucket(s) explain {covered:.0%}"
    amount = human_count(growth.amount) if growth.metric == "goroutines" else human_bytes(growth.amount)
    finding.summary += f"; no line named: {looked} of the {growth.words} ({amount})"
    finding.evidence.explained = Explained(round(covered, 3), heap_sites, buckets)
    return finding
