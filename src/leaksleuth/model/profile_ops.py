"""Profile algebra, as google/pprof's ``profile`` package and ``driver/fetch.go`` define it.

``scale`` / ``normalize`` / ``merge`` / ``diff`` / ``with_label`` / ``filter_by_name`` each return a new ``Profile``
and leave their inputs untouched. A diff is algebra, not a special case: ``merge([current, base.scale(-1)])``, with
the base samples labelled ``pprof::base=true`` for ``-diff_base`` semantics (percentages of the base total) and
unlabelled for ``-base`` semantics (identical stacks cancel; percentages of what is left).

Samples stay column-wise (numpy) throughout: nothing here materialises a Python object per sample.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from leaksleuth.errors import ConfigError
from leaksleuth.model.columns import BoolArray, frame_sample_ids, take_samples
from leaksleuth.model.merge import check_compatible, label_order, merge
from leaksleuth.model.profile import EMPTY_LABELS, Label, Location, Profile, SampleTable
from leaksleuth.model.profile import Line as ProfileLine

__all__ = ["BASE_LABEL", "check_compatible", "diff", "filter_by_name", "merge", "normalize", "report_total", "scale"]

BASE_LABEL = Label("pprof::base", str="true")


def with_samples(profile: Profile, samples: SampleTable, locations: list[Location] | None = None) -> Profile:
    """A copy of ``profile`` with other samples (and optionally other locations); everything else is shared."""
    if locations is None:
        return replace(profile, samples=samples)
    return replace(profile, samples=samples, locations=locations)


# ---- compatibility, totals -------------------------------------------------------------------------------------


def base_sample_mask(profile: Profile) -> BoolArray:
    """Samples that came from a ``-diff_base`` base profile (label ``pprof::base=true``)."""
    flags = np.array([BASE_LABEL in labels for labels in profile.samples.label_sets], dtype=np.bool_)
    return flags[profile.samples.label_set]


def report_total(profile: Profile, index: int) -> int:
    """pprof's report total (``computeTotal``): sum of |value|; of the base samples alone in a ``-diff_base`` diff."""
    values = np.abs(profile.samples.values[:, index]) if len(profile.samples) else np.zeros(0, dtype=np.int64)
    base_total = int(values[base_sample_mask(profile)].sum()) if values.size else 0
    return base_total if base_total > 0 else int(values.sum())


# ---- scale and normalize ---------------------------------------------------------------------------------------


def scale(profile: Profile, ratios: float | Sequence[float]) -> Profile:
    """pprof ``ScaleN``: multiply each sample type's values, round half away from zero like Go's ``math.Round``,
    and drop samples whose scaled values all became zero (only the scaled columns count, as in pprof)."""
    count = len(profile.sample_types)
    factors = [float(ratios)] * count if isinstance(ratios, int | float) else [float(r) for r in ratios]
    if len(factors) != count:
        raise ConfigError(f"{len(factors)} scale ratios for {count} sample types")
    changed = [index for index, factor in enumerate(factors) if factor != 1.0]
    if not changed:
        return profile
    values = profile.samples.values.copy()
    for index in changed:
        scaled = values[:, index].astype(np.float64) * factors[index]
        values[:, index] = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int64)
    keep = np.any(values[:, changed] != 0, axis=1)
    return with_samples(profile, take_samples(profile.samples, keep, values))


def normalize(profile: Profile, base: Profile) -> Profile:
    """pprof ``Normalize``: scale ``profile`` so that each sample type totals what it totals in ``base``."""
    check_compatible(profile, base)
    source_totals = profile.totals()
    base_totals = base.totals()
    ratios = [b / s if s else 0.0 for b, s in zip(base_totals, source_totals, strict=True)]
    return scale(profile, ratios)


def with_label(profile: Profile, label: Label) -> Profile:
    """pprof ``SetLabel`` for one string label: every sample carries ``label`` (replacing that key's values)."""
    table = profile.samples
    relabelled = [
        tuple(sorted((*(item for item in labels if item.key != label.key), label), key=label_order))
        for labels in table.label_sets
    ]
    interned: dict[tuple[Label, ...], int] = {EMPTY_LABELS: 0}
    remap = np.array([interned.setdefault(labels, len(interned)) for labels in relabelled], dtype=np.int32)
    samples = SampleTable(table.values, table.loc_offsets, table.loc_index, remap[table.label_set], list(interned))
    return with_samples(profile, samples)


def diff(current: Profile, base: Profile, *, subtract: bool = False, normalize_first: bool = False) -> Profile:
    """``current - base`` as pprof computes it: ``merge([current, base.scale(-1)])``.

    ``subtract=False`` is pprof's ``-diff_base``: base samples keep the ``pprof::base`` label, so they never cancel
    against current samples and percentages are of the base total. ``subtract=True`` is ``-base``: identical stacks
    cancel (meant for cumulative profiles such as allocs: what happened between the two). ``normalize_first``
    scales ``current`` to the base's totals first (pprof ``-normalize``).
    """
    check_compatible(current, base)
    if normalize_first:
        current = normalize(current, base)
    negated = scale(base, -1.0)
    if not subtract:
        negated = with_label(negated, BASE_LABEL)
    return merge([current, negated])


# ---- focus / ignore / hide ---------------------------------------------------------------------------------------


def filter_by_name(
    profile: Profile,
    *,
    focus: re.Pattern[str] | None = None,
    ignore: re.Pattern[str] | None = None,
    hide: re.Pattern[str] | None = None,
) -> Profile:
    """pprof ``FilterSamplesByName``: keep samples with a frame matching ``focus`` and none matching ``ignore``;
    remove frames matching ``hide`` from stacks (a sample left with no frames is dropped).

    A location matches when any of its lines' function name or file name, or its mapping's file, matches
    (``re.search``, as Go's ``MatchString``). With any filter, samples without frames are dropped, as in pprof.
    """
    if focus is None and ignore is None and hide is None:
        return profile
    state = np.zeros(len(profile.locations), dtype=np.int8)  # 0 neither, 1 focused, 2 ignored
    hidden = np.zeros(len(profile.locations), dtype=np.bool_)
    locations = list(profile.locations)
    for index, location in enumerate(profile.locations):
        if ignore is not None and _location_matches(location, ignore):
            state[index] = 2
        elif focus is None or _location_matches(location, focus):
            state[index] = 1
        if hide is not None and _location_matches(location, hide):
            kept = _unmatched_lines(location, hide)
            locations[index] = replace(location, lines=kept)
            hidden[index] = not kept
    table = profile.samples
    depths = table.depths()
    nonempty = depths > 0
    worst = np.zeros(len(table), dtype=np.int8)
    if table.loc_index.size:
        worst[nonempty] = np.maximum.reduceat(state[table.loc_index], table.loc_offsets[:-1][nonempty])
    keep = nonempty & (worst == 1)
    filtered = take_samples(table, keep)
    if hidden.any():
        filtered = _drop_locations(filtered, hidden)
    return with_samples(profile, filtered, locations=locations)


def _location_matches(location: Location, pattern: re.Pattern[str]) -> bool:
    for line in location.lines:
        if pattern.search(line.function.name) or pattern.search(line.function.filename):
            return True
    return location.mapping is not None and bool(pattern.search(location.mapping.filename))


def _unmatched_lines(location: Location, pattern: re.Pattern[str]) -> tuple[ProfileLine, ...]:
    if location.mapping is not None and pattern.search(location.mapping.filename):
        return ()
    return tuple(
        line
        for line in location.lines
        if not (pattern.search(line.function.name) or pattern.search(line.function.filename))
    )


def _drop_locations(table: SampleTable, hidden: BoolArray) -> SampleTable:
    frame_keep = ~hidden[table.loc_index]
    owner = frame_sample_ids(table, 0, len(table))
    depths = np.bincount(owner[frame_keep], minlength=len(table)).astype(np.int64)
    offsets = np.zeros(len(table) + 1, dtype=np.int64)
    np.cumsum(depths, out=offsets[1:])
    reduced = SampleTable(table.values, offsets, table.loc_index[frame_keep], table.label_set, table.label_sets)
    return take_samples(reduced, depths > 0)
