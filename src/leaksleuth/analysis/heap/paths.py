"""What grew, and how it got there: allocation clusters and leak paths of a profile or of a diff.

Both work on any profile; on a diff (``profile_ops.diff``) the base samples are told apart by their
``pprof::base`` label, so every cluster and path carries its base value, its current value and the growth between
them. A *leak path* is a whole root→allocation stack at line granularity (two program counters on one line are one
path), ranked by growth; a *cluster* groups samples by user allocation site, allocation kind and object size class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leaksleuth.analysis.heap.kinds import AllocationKind
from leaksleuth.analysis.heap.sites import Site, SiteAnnotation, SourceLines, annotate, sample_kinds
from leaksleuth.analysis.symbols import location_frames
from leaksleuth.model.columns import stack_fingerprints
from leaksleuth.model.goroutines import Frame
from leaksleuth.model.profile import Int64Array, Profile
from leaksleuth.model.profile_ops import base_sample_mask


@dataclass(frozen=True, slots=True)
class Cluster:
    site: Site
    kind: AllocationKind
    size_class: int  # bytes; 0 when the profile has no ``bytes`` label
    current: int
    base: int  # the base profile's value (positive); 0 for a single profile
    samples: int

    @property
    def growth(self) -> int:
        return self.current - self.base


@dataclass(frozen=True, slots=True)
class LeakPath:
    frames: tuple[Frame, ...]  # root first, inlined calls expanded
    site: Site | None
    kind: AllocationKind
    object_size: int
    current: int
    base: int

    @property
    def growth(self) -> int:
        return self.current - self.base


def split_values(profile: Profile, index: int) -> tuple[Int64Array, Int64Array]:
    """Per sample: its value in the current profile and in the base (positive), one of them zero."""
    values = profile.samples.values[:, index]
    from_base = base_sample_mask(profile)
    return np.where(from_base, 0, values), np.where(from_base, -values, 0)


def clusters(
    profile: Profile,
    index: int,
    *,
    source_lines: SourceLines | None = None,
    annotation: SiteAnnotation | None = None,
) -> list[Cluster]:
    """Samples grouped by (user allocation site, kind, size class), largest growth first."""
    annotation = annotation or annotate(profile)
    kind_ids, kinds, classes = sample_kinds(annotation, source_lines)
    current, base = split_values(profile, index)
    has_site = annotation.site_ids >= 0
    keys = np.stack([annotation.site_ids.astype(np.int64), kind_ids.astype(np.int64), classes], axis=1)[has_site]
    if keys.shape[0] == 0:
        return []
    order = np.lexsort(keys.T[::-1])
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], np.any(ordered[1:] != ordered[:-1], axis=1))))
    sums_current = np.add.reduceat(current[has_site][order], starts)
    sums_base = np.add.reduceat(base[has_site][order], starts)
    counts = np.diff(np.append(starts, order.size))
    found = [
        Cluster(annotation.sites[site], kinds[kind], object_class, int(now), int(before), int(samples))
        for (site, kind, object_class), now, before, samples in zip(
            ordered[starts].tolist(), sums_current.tolist(), sums_base.tolist(), counts.tolist(), strict=True
        )
        if now or before
    ]
    found.sort(key=lambda c: (-c.growth, -c.current, c.site.file, c.site.line))
    return found


def leak_paths(
    profile: Profile,
    index: int,
    *,
    top: int = 5,
    source_lines: SourceLines | None = None,
    annotation: SiteAnnotation | None = None,
) -> list[LeakPath]:
    """The ``top`` root→allocation stacks with the largest growth (largest value, for a single profile)."""
    table = profile.samples
    if len(table) == 0 or top <= 0:
        return []
    annotation = annotation or annotate(profile)
    identities: dict[tuple[tuple[str, str, int], ...], int] = {}
    location_identity = []
    for location in profile.locations:
        lines = tuple((line.function.name, line.function.filename, line.line) for line in location.lines)
        location_identity.append(identities.setdefault(lines, len(identities)))
    codes = np.random.default_rng(0xA11C).integers(1, 2**63, size=max(len(identities), 1), dtype=np.uint64)
    fingerprints = stack_fingerprints(table, codes[np.array(location_identity, dtype=np.int64)])
    with np.errstate(over="ignore"):
        fingerprints += table.depths().astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    current, base = split_values(profile, index)
    order = np.argsort(fingerprints, kind="stable")
    ordered = fingerprints[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    growth = np.add.reduceat(current[order], starts) - np.add.reduceat(base[order], starts)
    best = np.argsort(-growth, kind="stable")[:top]
    kind_ids, kinds, _ = sample_kinds(annotation, source_lines)
    paths = []
    for group in best.tolist():
        if growth[group] <= 0:
            break
        members = order[starts[group] : starts[group + 1] if group + 1 < starts.size else order.size]
        representative = int(members[np.argmax(current[members] - base[members])])  # its kind and size are shown
        site_id = int(annotation.site_ids[representative])
        paths.append(
            LeakPath(
                frames=_root_first_frames(profile, representative),
                site=annotation.sites[site_id] if site_id >= 0 else None,
                kind=kinds[int(kind_ids[representative])],
                object_size=int(annotation.object_sizes[representative]),
                current=int(current[members].sum()),
                base=int(base[members].sum()),
            )
        )
    return paths


def _root_first_frames(profile: Profile, sample: int) -> tuple[Frame, ...]:
    frames = [
        frame
        for location_index in profile.samples.stack_indices(sample).tolist()
        for frame in location_frames(profile.locations[location_index], mark_inlined=True)
    ]
    return tuple(reversed(frames))
