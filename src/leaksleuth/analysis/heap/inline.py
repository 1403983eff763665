"""pprof's ``(inline)`` / ``(partial-inline)`` markers of ``heap top``, computed once per location.

pprof marks a node by its incoming edges in the final graph (``internal/graph.newGraph`` with only the kept nodes):
walking a sample from the root, each kept line's caller is the previous kept line (dropped lines in between make a
residual edge); an edge counts once per sample, its first (outermost) occurrence decides whether it is inlined (the
callee line is not its location's last line), it carries the value of every sample through it, and edges below the
edge cutoff are dropped. Zero-valued samples are skipped.

Only edges *into* a node that is ever an inlined call can give a marker, and what those edges are is mostly a
property of a location: the pairs between the kept lines of one location are fixed, and a location's outermost kept
line calls into the innermost kept line of the next location with any kept line. So the tables are built per
location, and the samples are only visited at the few frames whose location can produce such an edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from leaksleuth.model import columns
from leaksleuth.model.columns import BoolArray, weighted_count
from leaksleuth.model.profile import Int32Array, Int64Array, Profile


class NodeIndex(Protocol):
    """What this module reads of ``top.NodeIndex`` (a protocol: top.py imports this module, not the reverse)."""

    @property
    def names(self) -> list[str]: ...

    @property
    def line_offsets(self) -> Int64Array: ...

    @property
    def line_nodes(self) -> Int32Array: ...

    @property
    def line_counts(self) -> Int64Array: ...


@dataclass(frozen=True, slots=True)
class _LocationEdges:
    """Per location, what its frames contribute to edges into target nodes (the kept, ever-inlined ones).

    ``inner_*``: the pairs between consecutive kept lines of one location whose callee is a target (always inlined),
    grouped by location (``inner_start[loc] .. + inner_count[loc]``); ``rank`` is the callee line's position in its
    location (larger is outer). ``last_*``: the location's outermost kept line, the callee of the edge from the next
    location (-1 when the location has no kept line); ``first_node``: its innermost kept line, the caller seen by
    the location before it.
    """

    has_kept: BoolArray
    first_node: Int64Array
    last_node: Int64Array
    last_inlined: BoolArray
    last_rank: Int64Array
    calls_target: BoolArray  # the location's outermost kept line is a target: its frames need their caller
    inner_start: Int64Array
    inner_count: Int64Array
    inner_child: Int64Array
    inner_parent: Int64Array
    inner_rank: Int64Array

    @property
    def visited(self) -> BoolArray:
        return self.calls_target | (self.inner_count > 0)


def _location_edges(nodes: NodeIndex, is_kept: BoolArray, targets: BoolArray) -> _LocationEdges:
    locations = nodes.line_offsets.size - 1
    line_location = np.repeat(np.arange(locations, dtype=np.int64), nodes.line_counts)
    line_rank = np.arange(nodes.line_nodes.size, dtype=np.int64) - nodes.line_offsets[line_location]
    line_node = nodes.line_nodes.astype(np.int64)
    inlined = line_rank < nodes.line_counts[line_location] - 1  # not the location's last line: an inlined call
    kept_lines = np.flatnonzero(is_kept[line_node])
    kept_location = line_location[kept_lines]
    same = kept_location[1:] == kept_location[:-1]
    child, parent = kept_lines[:-1][same], kept_lines[1:][same]  # consecutive kept lines of one location
    useful = targets[line_node[child]] & (line_node[child] != line_node[parent])
    child, parent = child[useful], parent[useful]
    inner_count = np.bincount(line_location[child], minlength=locations).astype(np.int64)
    inner_start = np.zeros(locations, dtype=np.int64)
    np.cumsum(inner_count[:-1], out=inner_start[1:])
    boundary = np.ones(kept_lines.size + 1, dtype=np.bool_)
    boundary[1:-1] = ~same
    first_line, last_line = kept_lines[boundary[:-1]], kept_lines[boundary[1:]]
    has_kept = np.zeros(locations, dtype=np.bool_)
    has_kept[kept_location] = True
    first_node = np.full(locations, -1, dtype=np.int64)
    last_node = np.full(locations, -1, dtype=np.int64)
    last_inlined = np.zeros(locations, dtype=np.bool_)
    last_rank = np.zeros(locations, dtype=np.int64)
    first_node[line_location[first_line]] = line_node[first_line]
    last_node[line_location[last_line]] = line_node[last_line]
    last_inlined[line_location[last_line]] = inlined[last_line]
    last_rank[line_location[last_line]] = line_rank[last_line]
    calls_target = has_kept & targets[np.maximum(last_node, 0)]
    return _LocationEdges(
        has_kept,
        first_node,
        last_node,
        last_inlined,
        last_rank,
        calls_target,
        inner_start,
        inner_count,
        line_node[child],
        line_node[parent],
        line_rank[child],
    )


@dataclass(frozen=True, slots=True)
class _Occurrences:
    """Edge occurrences into targets in a chunk of samples: sample (relative), callee, caller, inlined, and an
    order that grows towards the root (frame position, then line rank)."""

    sample: Int64Array
    child: Int64Array
    parent: Int64Array
    inlined: BoolArray
    order: Int64Array


def _occurrences(profile: Profile, edges: _LocationEdges, first: int, end: int, stride: int) -> _Occurrences:
    table = profile.samples
    start, stop = int(table.loc_offsets[first]), int(table.loc_offsets[end])
    frames = start + np.flatnonzero(edges.visited[table.loc_index[start:stop]])
    owner = np.searchsorted(table.loc_offsets, frames, side="right") - 1
    location = table.loc_index[frames].astype(np.int64)
    # the pairs inside each visited frame's location
    repeats = edges.inner_count[location]
    inner = columns.frame_positions(edges.inner_start[location], repeats)
    inner_owner = np.repeat(owner, repeats)
    inner_order = np.repeat(frames, repeats) * stride + edges.inner_rank[inner]
    # the edge from the caller's location into this location's outermost kept line
    calling = np.flatnonzero(edges.calls_target[location])
    caller = _next_kept_caller(profile, edges, frames[calling], owner[calling])
    found = (caller >= 0) & (caller != edges.last_node[location[calling]])
    calling, caller = calling[found], caller[found]
    callee_location = location[calling]
    return _Occurrences(
        np.concatenate((inner_owner, owner[calling])) - first,
        np.concatenate((edges.inner_child[inner], edges.last_node[callee_location])),
        np.concatenate((edges.inner_parent[inner], caller)),
        np.concatenate((np.ones(inner.size, dtype=np.bool_), edges.last_inlined[callee_location])),
        np.concatenate((inner_order, frames[calling] * stride + edges.last_rank[callee_location])),
    )


def _next_kept_caller(profile: Profile, edges: _LocationEdges, frames: Int64Array, owner: Int64Array) -> Int64Array:
    """For each frame: the innermost kept node of the nearest frame above it in its sample with a kept line (-1:
    none). Steps one frame at a time over the frames still unresolved (their number only shrinks)."""
    table = profile.samples
    caller = np.full(frames.size, -1, dtype=np.int64)
    sample_end = table.loc_offsets[owner + 1]
    pending = np.arange(frames.size)
    position = frames + 1
    while pending.size:
        inside = position < sample_end[pending]
        pending, position = pending[inside], position[inside]
        location = table.loc_index[position]
        hit = edges.has_kept[location]
        caller[pending[hit]] = edges.first_node[location[hit]]
        pending, position = pending[~hit], position[~hit] + 1
    return caller


def inline_labels(profile: Profile, index: int, nodes: NodeIndex, kept: Int64Array, edge_cutoff: int) -> dict[int, str]:
    """pprof's ``(inline)`` / ``(partial-inline)`` markers of the kept nodes (see the module docstring)."""
    count = len(nodes.names)
    is_kept = np.zeros(count, dtype=np.bool_)
    is_kept[kept] = True
    inlined_lines = np.ones(nodes.line_nodes.size, dtype=np.bool_)
    inlined_lines[nodes.line_offsets[1:] - 1] = False  # a location's last line is its physical frame
    targets = np.zeros(count, dtype=np.bool_)
    targets[nodes.line_nodes[inlined_lines]] = True
    targets &= is_kept
    if not targets.any():
        return {}
    edges = _location_edges(nodes, is_kept, targets)
    if not edges.visited.any():
        return {}
    values = profile.samples.values[:, index]
    stride = int(nodes.line_counts.max()) + 1
    pairs: list[Int64Array] = []
    weights: list[Int64Array] = []
    normal: list[BoolArray] = []
    for first, end in columns.sample_chunks(profile.samples):
        found = _occurrences(profile, edges, first, end, stride)
        live = values[first:end][found.sample] != 0  # pprof skips zero-valued samples
        pair = found.child[live] * count + found.parent[live]
        sample, order, inlined = found.sample[live], found.order[live], found.inlined[live]
        ranked = np.lexsort((-order, pair, sample))  # per (sample, edge) the outermost occurrence comes first
        distinct = np.ones(ranked.size, dtype=np.bool_)
        distinct[1:] = (sample[ranked][1:] != sample[ranked][:-1]) | (pair[ranked][1:] != pair[ranked][:-1])
        chosen = ranked[distinct]
        pairs.append(pair[chosen])
        weights.append(values[first:end][sample[chosen]])
        normal.append(~inlined[chosen])
    edge, which = np.unique(np.concatenate(pairs), return_inverse=True)
    edge_weight = weighted_count(which, np.concatenate(weights), edge.size)
    edge_normal = np.zeros(edge.size, dtype=np.bool_)
    edge_normal[which[np.concatenate(normal)]] = True  # pprof: an edge is inlined only if every occurrence is
    marks: dict[int, tuple[bool, bool]] = {}
    strong = np.abs(edge_weight) >= edge_cutoff
    for pair_key, called_normally in zip(edge[strong].tolist(), edge_normal[strong].tolist(), strict=True):
        inline_seen, normal_seen = marks.get(pair_key // count, (False, False))
        marks[pair_key // count] = (inline_seen or not called_normally, normal_seen or called_normally)
    return {node: ("partial-inline" if normal else "inline") for node, (inline, normal) in marks.items() if inline}
