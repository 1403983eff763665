"""``top``: flat and cum per node exactly as ``go tool pprof -top`` computes them.

pprof's rules (``internal/graph.newGraph``, ``internal/report.newTrimmedGraph``), all reproduced here:

* every line of a location is a node, inlined calls included (``lines[0]`` is the innermost inlined call);
* a sample adds its value to the ``cum`` of every distinct node on its stack once, however often the node recurs,
  and to the ``flat`` of its leaf node (the first line of its first location);
* the report total is taken before focus/ignore/hide (so percentages stay relative to the whole profile), and in a
  ``-diff_base`` diff it is the total of the base samples;
* ``-nodefraction`` drops nodes whose |cum| is below that fraction of the sum of all flat values; rows are sorted
  by |flat|, then name, then |cum|; ``-nodecount`` keeps the first N.

The one deliberate difference: pprof's ``-files`` keeps one node per *function* (its node identity still holds the
function's start line), so a file appears once per function; here a file is one node, as the name promises.
"""

from __future__ import annotations

import enum
import posixpath
import re
from dataclasses import dataclass

import numpy as np

from leaksleuth.analysis.heap.inline import inline_labels
from leaksleuth.errors import ConfigError, ParseError
from leaksleuth.model import columns, profile_ops
from leaksleuth.model.columns import BoolArray, UInt64Array, weighted_count
from leaksleuth.model.profile import Int32Array, Int64Array, Location, Profile

DEFAULT_NODE_FRACTION = 0.005  # pprof's default for -top
DEFAULT_EDGE_FRACTION = 0.001  # pprof's default; only decides the (inline) markers here


class Granularity(enum.StrEnum):
    FUNCTIONS = "functions"
    LINES = "lines"
    FILES = "files"


def resolve_sample_index(profile: Profile, name: str | int | None) -> int:
    """pprof's ``SampleIndexByName``: a type name, an index, or the default; ``inuse_X`` also finds ``X``."""
    try:
        return profile.sample_index(name)
    except ParseError as exc:
        if isinstance(name, str) and name.startswith("inuse_"):
            try:
                return profile.sample_index(name.removeprefix("inuse_"))
            except ParseError:
                pass
        raise ConfigError(str(exc).replace("sample index", "--sample-index"), hint=None) from None


# ---- nodes -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeIndex:
    """Which node each line of each location is, at one granularity.

    ``line_nodes[line_offsets[i] : line_offsets[i + 1]]`` are the nodes of location ``i``'s lines, innermost
    inlined call first (a location without lines counts as one line). ``names`` are pprof's printable names.
    """

    names: list[str]
    line_offsets: Int64Array
    line_nodes: Int32Array

    @property
    def line_counts(self) -> Int64Array:
        return np.diff(self.line_offsets)

    def first_nodes(self) -> Int32Array:
        """The node of each location's first (innermost) line: the leaf node when the location is a leaf."""
        return self.line_nodes[self.line_offsets[:-1]] if self.line_nodes.size else self.line_nodes


def clean_path(path: str) -> str:
    """Go's ``filepath.Clean`` (Unix) after pprof's ``trimPath`` of ``/proc/self/cwd/`` prefixes."""
    for prefix in ("/proc/self/cwd/./", "/proc/self/cwd/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    if not path:
        return path
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _objfile(location: Location) -> str:
    return location.mapping.filename if location.mapping is not None else ""


def node_names(location: Location, granularity: Granularity) -> list[str]:
    """pprof's printable node name for each line of ``location`` (``NodeInfo.PrintableName`` after aggregation)."""
    if not location.lines:
        objfile = _objfile(location)
        return [f"[{posixpath.basename(objfile)}]" if objfile else "<unknown>"]
    names = []
    for line in location.lines:
        function = line.function
        file = clean_path(function.filename)
        if granularity is Granularity.FILES:
            name = file
        elif granularity is Granularity.LINES:
            parts = [function.name] if function.name else []
            if line.line:
                parts.append(f"{file}:{line.line}")
            elif file:
                parts.append(file)
            name = " ".join(parts)
        else:
            name = function.name
        if not name:
            objfile = _objfile(location)
            name = f"[{posixpath.basename(objfile)}]" if objfile else "<unknown>"
        names.append(name)
    return names


def build_node_index(profile: Profile, granularity: Granularity = Granularity.FUNCTIONS) -> NodeIndex:
    ids: dict[str, int] = {}
    offsets = [0]
    nodes: list[int] = []
    for location in profile.locations:
        nodes.extend(ids.setdefault(name, len(ids)) for name in node_names(location, granularity))
        offsets.append(len(nodes))
    return NodeIndex(list(ids), np.array(offsets, dtype=np.int64), np.array(nodes, dtype=np.int32))


# ---- flat and cum --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkFrames:
    """The frames of a chunk of samples, inlined calls expanded: one entry per location line, leaf first."""

    nodes: Int32Array
    owners: Int32Array  # sample index relative to the chunk's first sample
    inlined: BoolArray | None  # the entry is an inlined call (not its location's last line); None: no inlining


def chunk_frames(profile: Profile, nodes: NodeIndex, first: int, end: int, single_node: Int32Array) -> ChunkFrames:
    """Expand samples ``first..end``; ``single_node`` is each location's node, or -1 when it has several lines."""
    table = profile.samples
    start, stop = int(table.loc_offsets[first]), int(table.loc_offsets[end])
    locs = table.loc_index[start:stop]
    owners = columns.frame_sample_ids(table, first, end)
    frame_nodes = np.take(single_node, locs)
    if int(frame_nodes.min(initial=0)) >= 0:  # the common case: no inlining in this chunk
        return ChunkFrames(frame_nodes, owners, None)
    counts = nodes.line_counts[locs]
    positions = columns.frame_positions(nodes.line_offsets[locs], counts)  # every line of every frame
    last_lines = np.repeat(nodes.line_offsets[locs + 1] - 1, counts)  # a location's last line is its physical call
    return ChunkFrames(nodes.line_nodes[positions], np.repeat(owners, counts), positions < last_lines)


def single_line_nodes(nodes: NodeIndex) -> Int32Array:
    return np.where(nodes.line_counts == 1, nodes.first_nodes(), -1).astype(np.int32)


def flat_values(profile: Profile, index: int, nodes: NodeIndex) -> Int64Array:
    """flat of every node under pprof's rules: each sample's value goes to its leaf node (its first location's
    first line). One entry per sample: no chunking needed."""
    table = profile.samples
    count = len(nodes.names)
    if len(table) == 0 or count == 0:
        return np.zeros(count, dtype=np.int64)
    has_stack = table.depths() > 0
    leaf_locations = table.loc_index[table.loc_offsets[:-1][has_stack]]
    return weighted_count(nodes.first_nodes()[leaf_locations], table.values[has_stack, index], count)


def flat_and_cum(profile: Profile, index: int, nodes: NodeIndex) -> tuple[Int64Array, Int64Array]:
    """flat and cum of every node under pprof's rules (a node counts once per sample), vectorised in chunks."""
    table = profile.samples
    count = len(nodes.names)
    flat = flat_values(profile, index, nodes)
    if len(table) == 0 or count == 0:
        return flat, np.zeros(count, dtype=np.int64)
    if count <= 64 * MASK_WORDS:
        return flat, _cum_by_masks(profile, index, nodes)
    return flat, _cum_by_sorting(profile, index, nodes)


MASK_WORDS = 4  # up to 256 nodes a sample's node set is a bitmask: one OR-reduction per 64 nodes, no sort


def location_masks(nodes: NodeIndex, words: int) -> UInt64Array:
    """``masks[w, loc]``: the set of nodes ``64w .. 64w + 63`` on location ``loc``'s lines, as bits."""
    locations = nodes.line_offsets.size - 1
    masks = np.zeros((words, locations), dtype=np.uint64)
    line_location = np.repeat(np.arange(locations, dtype=np.int64), nodes.line_counts)
    bits = np.left_shift(np.uint64(1), (nodes.line_nodes % 64).astype(np.uint64))
    np.bitwise_or.at(masks, (nodes.line_nodes // 64, line_location), bits)
    return masks


def _cum_by_masks(profile: Profile, index: int, nodes: NodeIndex) -> Int64Array:
    """cum from each sample's node set: the OR of its locations' node masks, then every sample's value added to
    the nodes of its set (a bits-by-values product per chunk; float64 is exact below 2**53, as in weighted_count)."""
    table = profile.samples
    words = -(-len(nodes.names) // 64)
    masks = location_masks(nodes, words)
    values = table.values[:, index]
    cum = np.zeros(words * 64, dtype=np.float64)
    for first, end in columns.sample_chunks(table):
        offsets = table.loc_offsets[first : end + 1]
        stacked = np.flatnonzero(offsets[1:] > offsets[:-1])  # reduceat needs non-empty segments
        if stacked.size == 0:
            continue
        locs = table.loc_index[int(offsets[0]) : int(offsets[-1])]
        segments = offsets[stacked] - offsets[0]
        weights = values[first:end][stacked].astype(np.float64)
        for word in range(words):
            sets = np.bitwise_or.reduceat(masks[word][locs], segments).astype("<u8")
            bits = np.unpackbits(sets.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
            cum[word * 64 : (word + 1) * 64] += weights @ bits
    return np.rint(cum[: len(nodes.names)]).astype(np.int64)


def _cum_by_sorting(profile: Profile, index: int, nodes: NodeIndex) -> Int64Array:
    """cum for many nodes: the distinct (sample, node) pairs of each chunk by sorting their keys."""
    table = profile.samples
    count = len(nodes.names)
    cum = np.zeros(count, dtype=np.int64)
    single_node = single_line_nodes(nodes)
    values = table.values[:, index]
    for first, end in columns.sample_chunks(table):
        chunk_values = values[first:end]
        frames = chunk_frames(profile, nodes, first, end, single_node)
        if frames.nodes.size:
            # int32 keys sort about twice as fast; int64 only when sample * count could overflow
            if (end - first + 1) * count < 2**31:  # in place: the owners array is this chunk's own
                keys: Int32Array | Int64Array = np.multiply(frames.owners, np.int32(count), out=frames.owners)
                np.add(keys, frames.nodes, out=keys)
            else:
                keys = frames.owners.astype(np.int64) * count + frames.nodes
            cum += _distinct_weighted(keys, chunk_values, count)
    return cum


def _distinct_weighted(keys: Int32Array | Int64Array, sample_values: Int64Array, count: int) -> Int64Array:
    """Sum ``sample_values[sample]`` over the distinct (sample, node) pairs encoded as ``sample * count + node``."""
    ordered = np.sort(keys)
    distinct = np.empty(ordered.size, dtype=np.bool_)
    distinct[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=distinct[1:])
    unique = np.asarray(ordered[distinct], dtype=np.int64)  # widened after the sort: int32 sorts twice as fast
    return weighted_count(unique % count, sample_values[unique // count], count)


# ---- the report ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopRow:
    name: str
    flat: int
    cum: int
    inline: str = ""  # "", "inline" or "partial-inline", as pprof marks nodes reached only/partly through inlining


@dataclass(frozen=True, slots=True)
class TopTable:
    sample_type: str
    unit: str
    total: int  # pprof's report total: the denominator of every percentage
    granularity: Granularity
    rows: list[TopRow]
    node_count: int  # nodes left after -nodefraction (pprof's "out of N")
    dropped_nodes: int  # nodes below -nodefraction
    node_fraction: float
    nodecount: int

    @property
    def shown(self) -> int:
        return sum(row.flat for row in self.rows)

    def percent(self, value: int) -> float:
        return percent(value, self.total)


def percent(value: int, total: int) -> float:
    """pprof's percentage: |value| / total, so a negative diff row still has a positive share."""
    return abs(value) / total * 100.0 if total else 0.0


def top(
    profile: Profile,
    *,
    sample_index: str | int | None = None,
    granularity: Granularity = Granularity.FUNCTIONS,
    nodecount: int = 0,
    node_fraction: float = DEFAULT_NODE_FRACTION,
    edge_fraction: float = DEFAULT_EDGE_FRACTION,
    focus: re.Pattern[str] | None = None,
    ignore: re.Pattern[str] | None = None,
    hide: re.Pattern[str] | None = None,
) -> TopTable:
    """``go tool pprof -top`` on ``profile`` (which may be a diff from ``profile_ops.diff``)."""
    index = resolve_sample_index(profile, sample_index)
    total = profile_ops.report_total(profile, index)
    shown = profile_ops.filter_by_name(profile, focus=focus, ignore=ignore, hide=hide)
    nodes = build_node_index(shown, granularity)
    flat, cum = flat_and_cum(shown, index, nodes)
    present = np.flatnonzero((flat != 0) | (cum != 0))
    flat_sum = int(flat[present].sum())
    node_cutoff = abs(int(flat_sum * node_fraction))
    edge_cutoff = abs(int(flat_sum * edge_fraction))
    kept = present[np.abs(cum[present]) >= node_cutoff] if node_cutoff > 0 else present
    flat_list, cum_list = flat.tolist(), cum.tolist()
    order = sorted(kept.tolist(), key=lambda n: (-abs(flat_list[n]), nodes.names[n], -abs(cum_list[n])))
    selected = order[:nodecount] if nodecount > 0 else order
    labels = inline_labels(shown, index, nodes, np.array(selected, dtype=np.int64), edge_cutoff)
    rows = [TopRow(nodes.names[n], flat_list[n], cum_list[n], labels.get(n, "")) for n in selected]
    value_type = profile.sample_types[index]
    return TopTable(
        sample_type=value_type.type,
        unit=value_type.unit,
        total=total,
        granularity=granularity,
        rows=rows,
        node_count=len(order),
        dropped_nodes=int(present.size - kept.size),
        node_fraction=node_fraction,
        nodecount=nodecount,
    )
