"""pprof's ``Merge`` (``profile/merge.go``), column-wise.

Mappings, functions and locations are unified by pprof's keys (a location is its mapping-relative address, its
mapping, its lines and folding), so profiles of one binary line up even when their ids differ. Samples with the
same stack and labels are summed and zero samples dropped. Stacks are compared through 64-bit fingerprints computed
per input profile; every candidate group is then verified frame by frame, so a hash collision can never merge two
different stacks. The merged sample table is written once, in chunks: no full-size intermediate copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from leaksleuth.errors import ConfigError
from leaksleuth.model.columns import (
    BoolArray,
    UInt64Array,
    frame_positions,
    sample_chunks,
    stack_fingerprints,
)
from leaksleuth.model.profile import (
    EMPTY_LABELS,
    Int32Array,
    Int64Array,
    Label,
    Location,
    Mapping,
    Profile,
    SampleTable,
)
from leaksleuth.model.profile import Function as ProfileFunction
from leaksleuth.model.profile import Line as ProfileLine


def check_compatible(current: Profile, base: Profile) -> None:
    """pprof's ``compatible``: same period type and the same sample types, in order."""
    if current.period_type != base.period_type:
        raise ConfigError(
            f"profiles are not comparable: period types {current.period_type} and {base.period_type} differ",
            hint="compare profiles of the same kind (heap with heap, allocs with allocs)",
        )
    if current.sample_types != base.sample_types:
        mine = ", ".join(map(str, current.sample_types))
        theirs = ", ".join(map(str, base.sample_types))
        raise ConfigError(
            f"profiles are not comparable: sample types [{mine}] and [{theirs}] differ",
            hint="compare profiles of the same kind (heap with heap, allocs with allocs)",
        )


def label_order(label: Label) -> tuple[bool, str]:
    """pprof keys string and numeric labels separately and sorts the keys; a key's values keep their order."""
    return (label.num is not None, label.key)


def merge(profiles: Sequence[Profile]) -> Profile:
    """One profile whose samples with the same stack and labels are summed; zero samples dropped (pprof order)."""
    if not profiles:
        raise ConfigError("no profiles to merge")
    first = profiles[0]
    for other in profiles[1:]:
        check_compatible(first, other)
    unifier = _Unifier()
    label_sets: dict[tuple[Label, ...], int] = {EMPTY_LABELS: 0}
    inputs: list[_Input] = []
    for profile in profiles:
        location_map = unifier.add(profile)
        canonical = [tuple(sorted(labels, key=label_order)) for labels in profile.samples.label_sets]
        label_map = np.array([label_sets.setdefault(c, len(label_sets)) for c in canonical], dtype=np.int32)
        inputs.append(_Input(profile.samples, location_map, label_map[profile.samples.label_set]))
    codes = np.random.default_rng(0x57AC).integers(1, 2**63, size=max(len(unifier.locations), 1), dtype=np.uint64)
    depths = np.concatenate([item.table.depths() for item in inputs])  # stack depth of every sample, all inputs
    groups = _identical_sample_groups(inputs, codes, depths)
    values = np.concatenate([item.table.values for item in inputs]).reshape(-1, len(first.sample_types))
    is_first = groups == np.arange(groups.size)
    if not bool(is_first.all()):
        summed = np.zeros_like(values)
        np.add.at(summed, groups, values)
        values = summed
    keep = is_first & np.any(values != 0, axis=1)  # pprof drops zero samples, also those that cancel out
    return Profile(
        sample_types=list(first.sample_types),
        samples=_write_table(inputs, keep, values, depths, list(label_sets)),
        locations=unifier.locations,
        functions=unifier.functions,
        mappings=unifier.mappings,
        period_type=first.period_type,
        period=max(p.period for p in profiles),
        time_nanos=min((p.time_nanos for p in profiles if p.time_nanos), default=0),
        duration_nanos=sum(p.duration_nanos for p in profiles),
        comments=list(dict.fromkeys(c for p in profiles for c in p.comments)),
        drop_frames=first.drop_frames,
        keep_frames=first.keep_frames,
        default_sample_type=next((p.default_sample_type for p in profiles if p.default_sample_type), ""),
        doc_url=next((p.doc_url for p in profiles if p.doc_url), ""),
    )


class _Input:
    """One profile's samples with its location and label-set indices translated to the merged tables."""

    __slots__ = ("label_set", "location_map", "table")

    def __init__(self, table: SampleTable, location_map: Int32Array, label_set: Int32Array) -> None:
        self.table = table
        self.location_map = location_map
        self.label_set = label_set

    def merged_frames(self, samples: Int64Array, depths: Int64Array) -> Int32Array:
        """The merged location indices of ``samples``' stacks (``depths`` deep), concatenated in order."""
        table = self.table
        positions = frame_positions(table.loc_offsets[samples], depths)
        return self.location_map[table.loc_index[positions]]


def _identical_sample_groups(inputs: Sequence[_Input], codes: UInt64Array, depths: Int64Array) -> Int64Array:
    """For each sample (all inputs in order), the index of the first sample with the same stack and labels."""
    hashes = np.concatenate([stack_fingerprints(item.table, codes[item.location_map]) for item in inputs])
    labels = np.concatenate([item.label_set for item in inputs]).astype(np.uint64)
    with np.errstate(over="ignore"):
        hashes += labels * np.uint64(0x9E3779B97F4A7C15)  # the label set is part of a sample's identity
    count = hashes.size
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = np.zeros(count, dtype=np.bool_)
    same[1:] = ordered[1:] == ordered[:-1]
    run_start = np.maximum.accumulate(np.where(same, 0, np.arange(count)))
    groups = np.empty(count, dtype=np.int64)
    groups[order] = order[run_start]
    _split_collisions(inputs, groups, labels, depths)
    return groups


def _split_collisions(inputs: Sequence[_Input], groups: Int64Array, labels: UInt64Array, depths: Int64Array) -> None:
    """Compare every grouped sample with its group's first sample; a mismatch (a hash collision) stays apart."""
    members = np.flatnonzero(groups != np.arange(groups.size))
    if members.size == 0:
        return
    firsts = groups[members]
    differs = (depths[members] != depths[firsts]) | (labels[members] != labels[firsts])
    same_shape = ~differs
    equal_frames = _gather_frames(inputs, members[same_shape], depths) == _gather_frames(
        inputs, firsts[same_shape], depths
    )
    owner = np.repeat(np.arange(int(same_shape.sum())), depths[members[same_shape]])
    mismatched = np.zeros(int(same_shape.sum()), dtype=np.bool_)
    mismatched[owner[~equal_frames]] = True
    differs[np.flatnonzero(same_shape)[mismatched]] = True
    groups[members[differs]] = members[differs]


def _gather_frames(inputs: Sequence[_Input], samples: Int64Array, all_depths: Int64Array) -> Int32Array:
    """Merged location indices of global ``samples``' stacks, concatenated in the order of ``samples``."""
    depths = all_depths[samples]
    out = np.empty(int(depths.sum()), dtype=np.int32)
    out_starts = np.concatenate(([0], np.cumsum(depths)[:-1])).astype(np.int64)
    base = 0
    for item in inputs:
        size = len(item.table)
        inside = (samples >= base) & (samples < base + size)
        if inside.any():
            destination = frame_positions(out_starts[inside], depths[inside])
            out[destination] = item.merged_frames(samples[inside] - base, depths[inside])
        base += size
    return out


def _write_table(
    inputs: Sequence[_Input],
    keep: BoolArray,
    values: Int64Array,
    depths: Int64Array,
    label_sets: list[tuple[Label, ...]],
) -> SampleTable:
    offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(depths[keep], out=offsets[1:])
    loc_index = np.empty(int(offsets[-1]), dtype=np.int32)
    written = 0
    base = 0
    for item in inputs:
        table = item.table
        item_keep = keep[base : base + len(table)]
        item_depths = depths[base : base + len(table)]
        for first, end in sample_chunks(table):  # chunked: small temporaries that stay in cache
            start, stop = int(table.loc_offsets[first]), int(table.loc_offsets[end])
            frames = table.loc_index[start:stop][np.repeat(item_keep[first:end], item_depths[first:end])]
            np.take(item.location_map, frames, out=loc_index[written : written + frames.size], mode="clip")
            written += frames.size
        base += len(table)
    label_set = np.concatenate([item.label_set for item in inputs])[keep]
    return SampleTable(np.ascontiguousarray(values[keep]), offsets, loc_index, label_set, label_sets)


class _Unifier:
    """Mappings, functions and locations of several profiles, deduplicated by pprof's merge keys."""

    def __init__(self) -> None:
        self.mappings: list[Mapping] = []
        self.functions: list[ProfileFunction] = []
        self.locations: list[Location] = []
        self._mapping_keys: dict[tuple[int, int, str], Mapping] = {}
        self._function_keys: dict[tuple[str, str, str, int], ProfileFunction] = {}
        self._location_keys: dict[tuple[object, ...], int] = {}

    def add(self, profile: Profile) -> Int32Array:
        """Unify ``profile``'s tables; returns the merged location index of each of its locations."""
        mapped: dict[int, tuple[Mapping, int]] = {}  # old mapping id -> (merged mapping, address shift)
        for original in profile.mappings:
            mapped[original.id] = self._mapping(original)
        functions: dict[int, ProfileFunction] = {}
        location_map = np.zeros(len(profile.locations), dtype=np.int32)
        for index, location in enumerate(profile.locations):
            lines = tuple(
                ProfileLine(self._function(line.function, functions), line.line, line.column) for line in location.lines
            )
            mapping: Mapping | None = None
            shift = 0
            if location.mapping is not None and location.mapping.id in mapped:
                mapping, shift = mapped[location.mapping.id]
            address = location.address + shift
            key = (
                address - mapping.memory_start if mapping else address,
                mapping.id if mapping else 0,
                tuple((line.function.id, line.line, line.column) for line in lines),
                location.is_folded,
            )
            found = self._location_keys.get(key)
            if found is None:
                found = len(self.locations)
                self._location_keys[key] = found
                self.locations.append(Location(found + 1, mapping, address, lines, location.is_folded))
            location_map[index] = found
        return location_map

    def _mapping(self, mapping: Mapping) -> tuple[Mapping, int]:
        size = mapping.memory_limit - mapping.memory_start
        size = (size + 0xFFF) // 0x1000 * 0x1000  # pprof rounds sizes to 4 KiB to absorb small differences
        key = (size, mapping.file_offset, mapping.build_id or mapping.filename)
        merged = self._mapping_keys.get(key)
        if merged is None:
            merged = replace(mapping, id=len(self.mappings) + 1)
            self._mapping_keys[key] = merged
            self.mappings.append(merged)
        return merged, merged.memory_start - mapping.memory_start

    def _function(self, function: ProfileFunction, seen: dict[int, ProfileFunction]) -> ProfileFunction:
        found = seen.get(function.id)
        if found is not None:
            return found
        key = (function.name, function.system_name, function.filename, function.start_line)
        found = self._function_keys.get(key)
        if found is None:
            found = replace(function, id=len(self.functions) + 1)
            self._function_keys[key] = found
            self.functions.append(found)
        seen[function.id] = found
        return found
