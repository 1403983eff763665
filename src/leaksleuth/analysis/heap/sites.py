"""Allocation sites: the user-code line behind each heap sample, clustered by site, kind and object size.

The *user allocation site* of a sample is its first frame (innermost first, inlined calls included) outside the Go
distribution: runtime, ``internal/…`` and the standard library are allocation plumbing, the fix is in the caller.
Standard-library files are recognised by the GOROOT that the profile's own ``runtime.*`` frames reveal, falling
back to the standard library's top-level package names for ``-trimpath`` builds (not merely "no dot in the first
path element": ``module myapp`` is dotless too, and its lines are the ones to fix). A
sample with no frame outside the distribution (net/http's own buffers) is attributed to its first frame outside
the runtime and marked as not user code.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from leaksleuth.analysis.heap.kinds import AllocationKind, infer_kind, size_classes
from leaksleuth.analysis.symbols import detect_goroot, is_go_distribution, location_frames
from leaksleuth.model.goroutines import Frame
from leaksleuth.model.profile import Int32Array, Int64Array, Profile

SourceLines = Mapping[tuple[str, int], str]  # (file as in the profile, line) -> source text, read by the caller
_RUNTIME = ("runtime", "internal/")  # function prefixes of the runtime (and every ``runtime…`` package)
_PLUMBING_DEPTH = 3  # locations inspected between the leaf and the user frame to name the allocation kind


@dataclass(frozen=True, slots=True)
class Site:
    function: str
    file: str
    line: int
    user_code: bool = field(default=True, compare=False)  # a site is its line; how it was found is not identity

    def where(self) -> str:
        return f"{self.file}:{self.line}"


_SHARED_SITES: dict[tuple[str, str, int, bool], tuple[Site, tuple[str, str, int]]] = {}
_MAX_SHARED_SITES = 1 << 16  # a fleet's code has far fewer; past this, sites are only interned


def shared_site(site: Site) -> tuple[Site, tuple[str, str, int]]:
    """One ``Site`` and one ``(function, file, line)`` key per allocation site for the whole process, so the
    histories of every instance of a service (they allocate at the same sites) share them. A cache of small
    immutable objects, like ``sys.intern``, and bounded: past the bound, new sites are only interned."""
    identity = (site.function, site.file, site.line, site.user_code)
    shared = _SHARED_SITES.get(identity)
    if shared is None:
        site = Site(sys.intern(site.function), sys.intern(site.file), site.line, site.user_code)
        shared = (site, (site.function, site.file, site.line))
        if len(_SHARED_SITES) < _MAX_SHARED_SITES:
            _SHARED_SITES[identity] = shared
    return shared


@dataclass(frozen=True, slots=True)
class SiteAnnotation:
    """Per-sample allocation sites of one profile, column-wise (``site_ids[i]`` indexes ``sites``; -1: no stack)."""

    site_ids: Int32Array
    sites: list[Site]
    plumbing_ids: Int32Array  # index into ``plumbing``: function names between the leaf and the site
    plumbing: list[tuple[str, ...]]
    object_sizes: Int64Array  # the ``bytes`` label (average object size of the sample), 0 when absent


@dataclass(frozen=True, slots=True)
class _LocationSites:
    sites: list[Site]
    user: Int32Array  # site id of the first user-code line of each location, -1 if none
    fallback: Int32Array  # site id of the first line outside the runtime, -1 if none
    leaf: Int32Array  # site id of the first line (any code)
    inner: list[tuple[str, ...]]  # plumbing lines before the user line, per location
    lines: list[tuple[str, ...]]  # all function names, per location


def annotate(profile: Profile) -> SiteAnnotation:
    """Find every sample's user allocation site (vectorised: one pass per stack depth until all are found)."""
    per_location = _location_sites(profile)
    table = profile.samples
    count = len(table)
    depths = table.depths()
    site_ids = np.full(count, -1, dtype=np.int32)
    site_depth = np.full(count, -1, dtype=np.int64)
    pending = np.flatnonzero(depths > 0)
    for location_site in (per_location.user, per_location.fallback, per_location.leaf):
        pending = _first_match(table.loc_offsets, depths, table.loc_index, location_site, pending, site_ids, site_depth)
    plumbing_ids, plumbing = _plumbing_chains(profile, per_location, site_depth)
    return SiteAnnotation(site_ids, per_location.sites, plumbing_ids, plumbing, _object_sizes(profile))


def _location_sites(profile: Profile) -> _LocationSites:
    goroot = detect_goroot(profile)
    index_of: dict[tuple[str, str, int], int] = {}  # a site is its line (``Site`` equality): plain tuples hash faster
    sites: list[Site] = []

    def site_id(frame: Frame, user_code: bool) -> int:
        key = (frame.function, frame.file, frame.line)
        found = index_of.get(key)
        if found is None:
            found = index_of[key] = len(sites)
            sites.append(Site(frame.function, frame.file, frame.line, user_code))
        return found

    user: list[int] = []
    fallback: list[int] = []
    leaf: list[int] = []
    inner: list[tuple[str, ...]] = []
    names: list[tuple[str, ...]] = []
    for location in profile.locations:
        frames = location_frames(location)
        functions = tuple(frame.function for frame in frames)
        user_id = fallback_id = -1
        before_user: tuple[str, ...] = ()
        for position, frame in enumerate(frames):  # the first user line, and the first line outside the runtime
            if user_id < 0 and not is_go_distribution(frame.function, frame.file, goroot):
                user_id = site_id(frame, True)
                before_user = functions[:position]
            if fallback_id < 0 and not frame.function.startswith(_RUNTIME):
                fallback_id = site_id(frame, False)
            if user_id >= 0 and fallback_id >= 0:
                break
        user.append(user_id)
        fallback.append(fallback_id)
        leaf.append(site_id(frames[0], False) if frames else -1)
        inner.append(before_user)
        names.append(functions)
    return _LocationSites(sites, _ids(user), _ids(fallback), _ids(leaf), inner, names)


def _ids(column: list[int]) -> Int32Array:
    return np.array(column, dtype=np.int32)


def _first_match(
    offsets: Int64Array,
    depths: Int64Array,
    loc_index: Int32Array,
    location_site: Int32Array,
    pending: Int64Array,
    site_ids: Int32Array,
    site_depth: Int64Array,
) -> Int64Array:
    """Resolve ``pending`` samples to the first location (leaf first) with a site; returns those still unresolved."""
    unresolved: list[Int64Array] = []
    depth = 0
    while pending.size:
        alive = depths[pending] > depth
        unresolved.append(pending[~alive])
        pending = pending[alive]
        site = location_site[loc_index[offsets[pending] + depth]]
        found = site >= 0
        site_ids[pending[found]] = site[found]
        site_depth[pending[found]] = depth
        pending = pending[~found]
        depth += 1
    return np.concatenate(unresolved) if unresolved else pending


def _plumbing_chains(
    profile: Profile, per_location: _LocationSites, site_depth: Int64Array
) -> tuple[Int32Array, list[tuple[str, ...]]]:
    """The plumbing frames (innermost first) of each sample, up to ``_PLUMBING_DEPTH`` locations deep."""
    table = profile.samples
    count = len(table)
    columns = []
    for depth in range(_PLUMBING_DEPTH + 1):
        column = np.full(count, -1, dtype=np.int64)
        reached = site_depth >= depth
        column[reached] = table.loc_index[table.loc_offsets[:-1][reached] + depth]
        columns.append(column)
    key = np.stack([np.minimum(site_depth, _PLUMBING_DEPTH + 1), *columns], axis=1)
    distinct, inverse = _unique_rows(key)
    chains: list[tuple[str, ...]] = []
    for row in distinct.tolist():
        resolved_at, locations = row[0], row[1:]
        chain: list[str] = []
        for depth, location in enumerate(locations):
            if location < 0:
                break
            chain.extend(per_location.inner[location] if depth == resolved_at else per_location.lines[location])
        chains.append(tuple(chain))
    return inverse.astype(np.int32), chains


def _unique_rows(rows: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Distinct rows and, per row, the index of its distinct row (sort-based; np.unique is slow here)."""
    if rows.shape[0] == 0:
        return rows, np.zeros(0, dtype=np.int64)
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.ones(rows.shape[0], dtype=np.bool_)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    group = np.cumsum(new) - 1
    inverse = np.empty(rows.shape[0], dtype=np.int64)
    inverse[order] = group
    return ordered[new], inverse


def _object_sizes(profile: Profile) -> Int64Array:
    table = profile.samples
    per_set = np.array(
        [next((label.num for label in labels if label.key == "bytes" and label.num), 0) for labels in table.label_sets],
        dtype=np.int64,
    )
    return per_set[table.label_set] if len(table) else np.zeros(0, dtype=np.int64)


# ---- kinds ----------------------------------------------------------------------------------------------------------


def sample_kinds(
    annotation: SiteAnnotation, source_lines: SourceLines | None = None
) -> tuple[Int32Array, list[AllocationKind], Int64Array]:
    """Per sample: its allocation kind (index into the returned list) and its object size class."""
    classes = size_classes(annotation.object_sizes)
    key = np.stack([annotation.site_ids.astype(np.int64), annotation.plumbing_ids.astype(np.int64), classes], axis=1)
    distinct, inverse = _unique_rows(key)
    kinds: dict[AllocationKind, int] = {}
    kind_of_row = np.zeros(distinct.shape[0], dtype=np.int32)
    for row_index, (site_id, plumbing_id, object_class) in enumerate(distinct.tolist()):
        if site_id < 0:
            kind = AllocationKind("unknown", "empty stack")
        else:
            site = annotation.sites[site_id]
            line = source_lines.get((site.file, site.line)) if source_lines and site.user_code else None
            plumbing = annotation.plumbing[plumbing_id]
            if not site.user_code:  # the site is itself library code (bufio.NewWriterSize): it names the kind
                plumbing = (*plumbing, site.function)
            kind = infer_kind(plumbing, line, object_class or None)
        kind_of_row[row_index] = kinds.setdefault(kind, len(kinds))
    return kind_of_row[inverse], list(kinds), classes
