"""pprof samples, decoded chunk by chunk into the model's arrays, within a memory budget.

A sample can be 4 bytes on the wire (one value, no stack) and 20 bytes in the model, and gzip squeezes millions of
identical samples into kilobytes: without a budget a 46 KB file takes gigabytes. So the samples arrive in chunks
(about 1 MiB, at most ``CHUNK_SAMPLES`` samples each) from wherever they were found, each chunk is decoded
column-wise (``_wire``; message by message when it uses unusual wire features), and the arrays built so far are
charged against ``MemoryBudget`` after every chunk: a profile that would take more than the budget is refused with a
``ParseError`` before it takes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from leaksleuth.errors import ParseError
from leaksleuth.formats import _wire
from leaksleuth.formats._profile_pb import Profile as ProfileMessage
from leaksleuth.model.profile import EMPTY_LABELS, Int32Array, Label, Location, SampleTable

FORMAT = "pprof"
CHUNK_BYTES = 1 << 20  # decode samples in ~1 MiB slices: small temporary arrays, same speed
CHUNK_SAMPLES = 1 << 16  # and at most this many samples (the message-by-message decoder holds Python objects)

# The budget: the decoded model may take MEMORY_FACTOR times the inflated profile, plus MEMORY_ALLOWANCE for small
# profiles. A frame is 4 bytes in the model and at least 1 on the wire, so real stacks stay under it; what goes
# over is samples that are nearly empty on the wire (a sample is 8 bytes per value + 12 in the model).
MEMORY_FACTOR = 4
MEMORY_ALLOWANCE = 1 << 20
SAMPLE_BYTES, VALUE_BYTES, FRAME_BYTES = 12, 8, 4
# Python objects per table entry, measured on CPython 3.11 (a Location with its Line, a Function, a Mapping, a
# string with its list slot), plus what upb holds while decoding. Tables get TABLE_FACTOR: a real Location is
# ~16 wire bytes and ~240 in Python, so 4x would refuse a CPU profile of a large binary.
TABLE_ENTRY_BYTES = {3: 200, 4: 300, 5: 160, 6: 100}
TABLE_FACTOR = 32
UPB_FIELD_BYTES = 48  # what upb holds per repeated-field entry until the model is built


class _BadReference(Exception):
    """A message refers to something the profile does not have; ``at`` says which message (top-level field
    number, its occurrence, -1 for the last) so that ``parse_pprof`` can name its offset."""

    def __init__(self, predicate: str) -> None:
        super().__init__(predicate)
        self.predicate = predicate  # "refers to unknown function id 7", "has 1 values but …"
        self.field = 0
        self.index = -1
        self.ident: int | None = None

    def at(self, field: int, index: int = -1, ident: int | None = None) -> _BadReference:
        if not self.field:
            self.field, self.index, self.ident = field, index, ident
        return self


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """How much memory a profile of ``inflated_size`` bytes may take once decoded."""

    inflated_size: int

    @property
    def sample_limit(self) -> int:
        return MEMORY_FACTOR * self.inflated_size + MEMORY_ALLOWANCE

    @property
    def table_limit(self) -> int:
        return TABLE_FACTOR * self.inflated_size + MEMORY_ALLOWANCE

    def check_samples(self, samples: int, num_types: int, frames: int, *, extra: int = 0, more: bool = False) -> None:
        """Refuse when ``samples`` samples of ``num_types`` values and ``frames`` frames (plus ``extra`` bytes the
        decoder holds meanwhile) would go over the budget; ``more``: the walk has not seen them all yet."""
        need = samples * (SAMPLE_BYTES + VALUE_BYTES * max(num_types, 1)) + frames * FRAME_BYTES + extra
        if need > self.sample_limit:
            counted = f"{'at least ' if more else ''}{samples:,} samples"
            raise self._refusal(f"{counted} and {frames:,} frames would take {need:,} bytes", "samples")

    def check_tables(self, counts: dict[int, int]) -> None:
        need = sum(TABLE_ENTRY_BYTES.get(number, 0) * count for number, count in counts.items())
        if need > self.table_limit:
            listed = ", ".join(f"{count:,} {_TABLE_NAMES[n]}" for n, count in sorted(counts.items()) if count)
            raise self._refusal(f"{listed} would take {need:,} bytes", "tables")

    def _refusal(self, what: str, part: str) -> ParseError:
        factor, limit = (MEMORY_FACTOR, self.sample_limit) if part == "samples" else (TABLE_FACTOR, self.table_limit)
        return ParseError(
            f"refused: {what}, over the memory budget for a profile of {self.inflated_size:,} bytes "
            f"({factor}x its size + {MEMORY_ALLOWANCE >> 20} MiB = {limit:,} bytes); "
            "a real profile is not this sparse (an amplification attack or a broken writer?)",
            format_name=FORMAT,
        )


_TABLE_NAMES = {3: "mappings", 4: "locations", 5: "functions", 6: "strings"}


@dataclass(frozen=True, slots=True)
class SampleChunk:
    """Samples ``first..first+len(sizes)``: their encoded messages back to back in ``data``."""

    first: int
    data: bytes
    sizes: _wire.I64


def chunk_bounds(sizes: _wire.I64) -> list[int]:
    """Sample indices where chunks start (and the count at the end): ~CHUNK_BYTES and <= CHUNK_SAMPLES each."""
    count = int(sizes.shape[0])
    byte_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(sizes, out=byte_offsets[1:])
    by_bytes = np.searchsorted(byte_offsets, np.arange(0, int(byte_offsets[-1]), CHUNK_BYTES))
    by_count = np.arange(0, count, CHUNK_SAMPLES)
    return sorted({0, count, *by_bytes.tolist(), *by_count.tolist()} - {count + 1})


def decode_samples(
    chunks: Iterator[SampleChunk],
    count: int,
    num_types: int,
    locations: list[Location],
    string_at: Callable[[int], str],
    budget: MemoryBudget,
) -> SampleTable:
    """All samples, chunk by chunk: column-wise, or message by message when a chunk is not columnar."""
    if count == 0:
        return SampleTable.empty(num_types)
    budget.check_samples(count, num_types, 0)
    values = np.empty((count, num_types), dtype=np.int64)
    depths = np.empty(count, dtype=np.int64)
    label_set = np.zeros(count, dtype=np.int32)
    ids: list[Int32Array] = []
    frames = 0
    interned: dict[tuple[Label, ...], int] = {EMPTY_LABELS: 0}
    to_index = _location_indexer(locations)
    for chunk in chunks:
        try:
            part = _columnar_chunk(chunk, num_types, to_index, string_at)
        except _wire.NotColumnar:
            part = _chunk_by_message(chunk, num_types, locations, string_at)
        stop = chunk.first + len(part)
        values[chunk.first : stop] = part.values
        depths[chunk.first : stop] = part.depths()
        if len(part.label_sets) > 1:
            remap = np.array([interned.setdefault(s, len(interned)) for s in part.label_sets], dtype=np.int32)
            label_set[chunk.first : stop] = remap[part.label_set]
        ids.append(part.loc_index)
        frames += part.loc_index.size
        budget.check_samples(count, num_types, frames)
    loc_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(depths, out=loc_offsets[1:])
    loc_index = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int32)
    return SampleTable(values, loc_offsets, loc_index, label_set, list(interned))


def _location_indexer(locations: list[Location]) -> Callable[[_wire.U64], tuple[Int32Array, int]]:
    """A function mapping location ids (any integers) to positions in ``locations``, and the position of the first
    unknown id (-1: none)."""
    known = np.array([loc.id for loc in locations], dtype=np.uint64)
    largest = int(known.max()) if known.size else 0
    table: Int32Array | None = None
    if largest <= 4 * known.size + 1024:
        # the usual case (Go numbers locations 1..N): a lookup table beats a binary search per frame
        table = np.full(largest + 2, -1, dtype=np.int32)
        table[known] = np.arange(known.size, dtype=np.int32)
    order = np.argsort(known, kind="stable")
    sorted_ids = known[order]

    def to_index(location_ids: _wire.U64) -> tuple[Int32Array, int]:
        if table is not None:
            dense = table[np.minimum(location_ids, np.uint64(largest + 1))]
            bad = dense < 0
        else:
            position = np.minimum(np.searchsorted(sorted_ids, location_ids), max(known.size - 1, 0))
            bad = sorted_ids[position] != location_ids
            dense = order[position].astype(np.int32)
        return dense, int(np.flatnonzero(bad)[0]) if np.any(bad) else -1

    return to_index


def _columnar_chunk(
    chunk: SampleChunk,
    num_types: int,
    to_index: Callable[[_wire.U64], tuple[Int32Array, int]],
    string_at: Callable[[int], str],
) -> SampleTable:
    count = int(chunk.sizes.shape[0])
    tokens = _wire.decode_varints(chunk.data)
    byte_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(chunk.sizes, out=byte_offsets[1:])
    token_offsets = np.searchsorted(tokens.starts, byte_offsets).astype(np.int64)
    nonempty = byte_offsets[:-1] < tokens.size
    if not np.array_equal(tokens.starts[token_offsets[:-1][nonempty]], byte_offsets[:-1][nonempty]):
        raise _wire.NotColumnar("a sample does not start on a varint boundary")
    fields = _wire.walk_fields(tokens, token_offsets[:-1], token_offsets[1:])
    location_ids, loc_offsets = _wire.gather(tokens, fields, 1, count)
    values, value_offsets = _wire.gather(tokens, fields, 2, count)
    value_counts = np.diff(value_offsets)
    if np.any(value_counts != num_types):
        bad = int(np.flatnonzero(value_counts != num_types)[0])
        predicate = f"has {int(value_counts[bad])} values but the profile declares {num_types} sample types"
        raise _BadReference(predicate).at(2, chunk.first + bad)
    index, unknown = to_index(location_ids)
    if unknown >= 0:
        sample = chunk.first + int(np.searchsorted(loc_offsets, unknown, side="right")) - 1
        raise _BadReference(f"refers to unknown location id {int(location_ids[unknown])}").at(2, sample)
    pick = np.flatnonzero((fields.number == np.uint64(3)) & (fields.wire_type == 2))
    pick = pick[np.argsort(fields.first[pick], kind="stable")]
    label_fields = _wire.walk_fields(tokens, fields.first[pick], fields.stop[pick])
    columns = np.stack(
        [_wire.scalar(tokens, label_fields, number, pick.size).view(np.int64) for number in (1, 2, 3, 4)],
        axis=1,
    )
    label_set, label_sets = _label_sets(columns, fields.owner[pick], count, chunk.first, string_at)
    return SampleTable(values.view(np.int64).reshape(count, num_types), loc_offsets, index, label_set, label_sets)


def _label_sets(
    columns: _wire.I64, owner: _wire.I64, count: int, first: int, string_at: Callable[[int], str]
) -> tuple[Int32Array, list[tuple[Label, ...]]]:
    """Intern label sets. ``columns`` has one (key, str, num, unit) row per label, ``owner`` its sample."""
    label_set = np.zeros(count, dtype=np.int32)
    if owner.size == 0:
        return label_set, [EMPTY_LABELS]
    unique_rows, label_uid = _unique_rows(columns)
    labels = []
    for uid, row in enumerate(unique_rows.tolist()):
        try:
            labels.append(_make_label(row, string_at))
        except _BadReference as exc:
            raise exc.at(2, first + int(owner[np.flatnonzero(label_uid == uid)[0]])) from None
    sets: list[tuple[Label, ...]] = [EMPTY_LABELS] + [(label,) for label in labels]
    per_sample = np.bincount(owner, minlength=count)
    single = per_sample[owner] == 1
    label_set[owner[single]] = (label_uid[single] + 1).astype(np.int32)
    multi_samples = np.flatnonzero(per_sample > 1)
    if multi_samples.size:
        interned: dict[tuple[Label, ...], int] = {}
        starts = np.searchsorted(owner, multi_samples)
        for sample, start in zip(multi_samples.tolist(), starts.tolist(), strict=True):
            key = tuple(labels[uid] for uid in label_uid[start : start + per_sample[sample]].tolist())
            if key not in interned:
                interned[key] = len(sets)
                sets.append(key)
            label_set[sample] = interned[key]
    return label_set, sets


def _unique_rows(columns: _wire.I64) -> tuple[_wire.I64, _wire.I64]:
    """``np.unique(axis=0)``, with a fast path for the common heap case: only the number varies (``bytes``)."""
    constant = [bool(np.all(columns[:, j] == columns[0, j])) for j in range(columns.shape[1])]
    if sum(not c for c in constant) <= 1:
        varying = constant.index(False) if not all(constant) else 0
        values, inverse = np.unique(columns[:, varying], return_inverse=True)
        rows = np.repeat(columns[:1], values.shape[0], axis=0)
        rows[:, varying] = values
        return rows, inverse.reshape(-1).astype(np.int64)
    rows, inverse = np.unique(columns, axis=0, return_inverse=True)
    return rows, inverse.reshape(-1).astype(np.int64)


def _make_label(row: list[int], string_at: Callable[[int], str]) -> Label:
    key, str_index, num, unit = row
    if str_index:
        return Label(string_at(key), str=string_at(str_index))
    return Label(string_at(key), num=num, num_unit=string_at(unit))


def _chunk_by_message(
    chunk: SampleChunk, num_types: int, locations: list[Location], string_at: Callable[[int], str]
) -> SampleTable:
    """The authority on unusual or malformed samples: each one decoded as a message (``DecodeError`` passes up:
    the caller locates it in the whole profile)."""
    wrapped = bytearray()
    position = 0
    for size in chunk.sizes.tolist():
        wrapped += b"\x12" + _varint(size) + chunk.data[position : position + size]
        position += size
    message = ProfileMessage()
    message.ParseFromString(bytes(wrapped))
    index_of = {loc.id: i for i, loc in enumerate(locations)}
    rows = []
    for number, sample in enumerate(message.sample):
        try:
            rows.append(_sample_row(sample, num_types, index_of, string_at))
        except _BadReference as exc:
            raise exc.at(2, chunk.first + number) from None
    return SampleTable.from_rows(num_types, rows)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _sample_row(
    sample: Any, num_types: int, index_of: dict[int, int], string_at: Callable[[int], str]
) -> tuple[list[int], list[int], tuple[Label, ...]]:
    unknown = next((loc_id for loc_id in sample.location_id if loc_id not in index_of), None)
    if unknown is not None:
        raise _BadReference(f"refers to unknown location id {unknown}")
    if len(sample.value) != num_types:
        raise _BadReference(f"has {len(sample.value)} values but the profile declares {num_types} sample types")
    labels = tuple(_make_label([lab.key, lab.str, lab.num, lab.num_unit], string_at) for lab in sample.label)
    return [index_of[loc_id] for loc_id in sample.location_id], list(sample.value), labels


__all__ = ["DecodeError", "MemoryBudget", "SampleChunk", "chunk_bounds", "decode_samples"]
