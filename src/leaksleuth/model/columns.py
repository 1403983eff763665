"""Column-wise helpers over a ``SampleTable``: chunked passes over frames, subsets, stack fingerprints.

Whole-table numpy passes over 8M frames allocate 64 MB temporaries and fall out of cache; passes over ~1M-frame
chunks aligned to sample boundaries are several times faster and keep the peak memory near the profile's own size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from leaksleuth.model.profile import Int32Array, Int64Array, SampleTable

CHUNK_FRAMES = 1 << 20  # frames per vectorised pass: big enough to amortise numpy calls, small enough for cache
UInt64Array = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]


def sample_chunks(table: SampleTable, frames_per_chunk: int = CHUNK_FRAMES) -> Iterator[tuple[int, int]]:
    """``(first, end)`` sample ranges whose stacks hold about ``frames_per_chunk`` frames together."""
    offsets = table.loc_offsets
    count = len(table)
    if count == 0:
        return
    starts = np.searchsorted(offsets, np.arange(0, int(offsets[-1]) + 1, frames_per_chunk), side="right") - 1
    bounds = sorted({0, count, *(int(s) for s in starts if 0 <= s < count)})
    yield from itertools.pairwise(bounds)


def frame_sample_ids(table: SampleTable, first: int, end: int) -> Int32Array:
    """For every frame of samples ``first..end``: its sample index relative to ``first`` (int32: half the traffic)."""
    depths = table.loc_offsets[first + 1 : end + 1] - table.loc_offsets[first:end]
    return np.repeat(np.arange(end - first, dtype=np.int32), depths)


def take_samples(table: SampleTable, keep: BoolArray, values: Int64Array | None = None) -> SampleTable:
    """The samples where ``keep`` is true (stacks and label sets follow), optionally with new values.

    Arrays are shared, never copied, when every sample is kept: tables are treated as immutable.
    """
    chosen = table.values if values is None else values
    if bool(keep.all()):
        return SampleTable(chosen, table.loc_offsets, table.loc_index, table.label_set, list(table.label_sets))
    depths = table.depths()
    offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(depths[keep], out=offsets[1:])
    loc_index = np.empty(int(offsets[-1]), dtype=np.int32)
    written = 0
    for first, end in sample_chunks(table):  # chunked: small temporaries that stay in cache
        start, stop = int(table.loc_offsets[first]), int(table.loc_offsets[end])
        kept_frames = table.loc_index[start:stop][np.repeat(keep[first:end], depths[first:end])]
        loc_index[written : written + kept_frames.size] = kept_frames
        written += kept_frames.size
    return SampleTable(
        np.ascontiguousarray(chosen[keep]),
        offsets,
        loc_index,
        table.label_set[keep],
        list(table.label_sets),
    )


def weighted_count(index: Int64Array | Int32Array, weights: Int64Array, count: int) -> Int64Array:
    """``out[i] = sum(weights[index == i])`` for ``i < count``, exactly while the sums stay below 2**53 (9 PB of
    heap): float64 bincount is far faster than ``np.add.at``."""
    return np.rint(np.bincount(index, weights=weights.astype(np.float64), minlength=count)).astype(np.int64)


def frame_positions(starts: Int64Array, depths: Int64Array) -> Int64Array:
    """Frame indices ``starts[i] + 0 .. depths[i] - 1`` for every i, concatenated."""
    run_starts = np.repeat(starts - np.concatenate(([0], np.cumsum(depths)[:-1])), depths)
    return run_starts + np.arange(int(depths.sum()), dtype=np.int64)


def stack_fingerprints(table: SampleTable, location_codes: UInt64Array) -> UInt64Array:
    """A 64-bit polynomial hash of each sample's stack, from a random code per location.

    Position-dependent (``sum code[loc] * W[pos]`` mod 2^64), so the same locations in another order differ.
    Equal fingerprints are only candidates: ``group_identical_stacks`` compares the frames of every group.
    """
    count = len(table)
    hashes = np.zeros(count, dtype=np.uint64)
    if count == 0:
        return hashes
    depths = table.depths()
    max_depth = int(depths.max()) if depths.size else 0
    weights = np.random.default_rng(0x1EA55).integers(1, 2**63, size=max(max_depth, 1), dtype=np.uint64)
    weights |= np.uint64(1)
    with np.errstate(over="ignore"):
        for first, end in sample_chunks(table):
            start, stop = int(table.loc_offsets[first]), int(table.loc_offsets[end])
            if start == stop:
                continue
            positions = np.arange(start, stop, dtype=np.int64) - np.repeat(
                table.loc_offsets[first:end], depths[first:end]
            )
            terms = location_codes[table.loc_index[start:stop]] * weights[positions]
            nonempty = depths[first:end] > 0
            segment_starts = (table.loc_offsets[first:end] - start)[nonempty]
            hashes[first:end][nonempty] = np.add.reduceat(terms, segment_starts)
    return hashes
