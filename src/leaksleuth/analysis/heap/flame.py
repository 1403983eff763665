"""The flame graph view-model: a call tree (root first) with each frame's value, built column-wise.

Frames are pprof's nodes at the chosen granularity, inlined calls included, in stack order from the root. For a diff
(``profile_ops.diff``) every frame carries its current and its base value; its width is their sum, so paths that
shrank or vanished stay visible next to the ones that grew, and the renderer colours each frame by its change.
Frames narrower than ``min_fraction`` of the whole are folded into their parent, which keeps a 200k-sample
profile's tree to a size a browser draws instantly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from leaksleuth.analysis.heap.paths import split_values
from leaksleuth.analysis.heap.top import (
    Granularity,
    NodeIndex,
    build_node_index,
    chunk_frames,
    resolve_sample_index,
    single_line_nodes,
)
from leaksleuth.model import columns
from leaksleuth.model.profile import Int32Array, Int64Array, Profile
from leaksleuth.model.profile_ops import base_sample_mask

DEFAULT_MIN_FRACTION = 0.0005


@dataclass(slots=True)
class FlameNode:
    name: str
    value: int  # in the (current) profile, through this frame
    base: int = 0  # in the base profile of a diff (positive), through this frame
    children: list[FlameNode] = field(default_factory=list)

    @property
    def width(self) -> int:
        return abs(self.value) + abs(self.base)

    @property
    def delta(self) -> int:
        return self.value - self.base

    def walk(self) -> list[FlameNode]:
        """This node and all below it, depth first."""
        found, stack = [], [self]
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(reversed(node.children))
        return found


@dataclass(slots=True)
class FlameGraph:
    root: FlameNode
    sample_type: str
    unit: str
    is_diff: bool
    granularity: Granularity
    folded_below: int  # frames narrower than this were folded into their parents


def flame_graph(
    profile: Profile,
    *,
    sample_index: str | int | None = None,
    granularity: Granularity = Granularity.FUNCTIONS,
    min_fraction: float = DEFAULT_MIN_FRACTION,
) -> FlameGraph:
    index = resolve_sample_index(profile, sample_index)
    current, base = split_values(profile, index)
    current, base = np.abs(current), np.abs(base)
    weight = current + base
    nodes = build_node_index(profile, granularity)
    stacks, offsets = _expanded_stacks(profile, nodes)
    cutoff = max(1, int(int(weight.sum()) * min_fraction))
    parents, names, values, bases = _build_trie(stacks, offsets, len(nodes.names), current, base, cutoff)
    tree = [
        FlameNode(nodes.names[name], value, base_value)
        for name, value, base_value in zip(names.tolist(), values.tolist(), bases.tolist(), strict=True)
    ]
    root = FlameNode("root", int(current.sum()), int(base.sum()))
    for child, parent in zip(tree, parents.tolist(), strict=True):
        (root if parent < 0 else tree[parent]).children.append(child)
    for node in [root, *tree]:
        node.children.sort(key=lambda n: n.name)
    value_type = profile.sample_types[index]
    is_diff = bool(base_sample_mask(profile).any())
    return FlameGraph(root, value_type.type, value_type.unit, is_diff, granularity, cutoff)


def _expanded_stacks(profile: Profile, nodes: NodeIndex) -> tuple[Int32Array, Int64Array]:
    """Every sample's frames as nodes, inlined calls expanded, leaf first; with per-sample offsets."""
    table = profile.samples
    single = single_line_nodes(nodes)
    pieces: list[Int32Array] = []
    depths = np.zeros(len(table), dtype=np.int64)
    for first, end in columns.sample_chunks(table):
        frames = chunk_frames(profile, nodes, first, end, single)
        pieces.append(frames.nodes)
        depths[first:end] = np.bincount(frames.owners, minlength=end - first)
    offsets = np.zeros(len(table) + 1, dtype=np.int64)
    np.cumsum(depths, out=offsets[1:])
    stacks = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    return stacks, offsets


def _build_trie(
    stacks: Int32Array, offsets: Int64Array, node_count: int, current: Int64Array, base: Int64Array, cutoff: int
) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
    """Prefix tree of the root-first stacks, one vectorised pass per depth; groups below ``cutoff`` are folded.

    Returns, per tree node (parents before children): parent tree node (-1 for the root's children), node name
    index, current value and base value.
    """
    depths = np.diff(offsets)
    weight = current + base
    active = np.flatnonzero((depths > 0) & (weight > 0))
    parent = np.full(active.size, -1, dtype=np.int64)
    parents: list[Int64Array] = []
    names: list[Int64Array] = []
    values: list[Int64Array] = []
    bases: list[Int64Array] = []
    created = 0
    level = 0
    while active.size:
        alive = depths[active] > level
        active, parent = active[alive], parent[alive]
        if not active.size:
            break
        name = stacks[offsets[active + 1] - 1 - level].astype(np.int64)
        key = (parent + 1) * node_count + name
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        group_current = np.add.reduceat(current[active][order], starts)
        group_base = np.add.reduceat(base[active][order], starts)
        kept = (group_current + group_base) >= cutoff
        group_ids = np.full(starts.size, -1, dtype=np.int64)
        group_ids[kept] = created + np.arange(int(kept.sum()))
        created += int(kept.sum())
        first_members = order[starts[kept]]
        parents.append(parent[first_members])
        names.append(name[first_members])
        values.append(group_current[kept])
        bases.append(group_base[kept])
        member_group = np.empty(active.size, dtype=np.int64)
        member_group[order] = np.repeat(group_ids, np.diff(np.append(starts, order.size)))
        survives = member_group >= 0
        active, parent = active[survives], member_group[survives]
        level += 1
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.concatenate(parents) if parents else empty,
        np.concatenate(names) if names else empty,
        np.concatenate(values) if values else empty,
        np.concatenate(bases) if bases else empty,
    )
