"""pprof protobuf (profile.proto), gzip-compressed or raw, read into ``model.Profile`` (``pprof_write`` writes it back).

Reading: upb decodes everything but the samples; samples stay raw bytes and are decoded column-wise by
``_wire`` (fast path), or message by message when they use unusual wire features (slow path, also the authority
on malformed input).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from leaksleuth.errors import ParseError
from leaksleuth.formats import _wire
from leaksleuth.formats._profile_pb import Profile as ProfileMessage
from leaksleuth.formats._profile_pb import ProfileRawSamples
from leaksleuth.formats._wire import locate_wire_error
from leaksleuth.formats.compression import maybe_gunzip
from leaksleuth.model.profile import (
    EMPTY_LABELS,
    Function,
    Int32Array,
    Label,
    Line,
    Location,
    Mapping,
    Profile,
    SampleTable,
    ValueType,
)

FORMAT = "pprof"


def parse_pprof(data: bytes, *, max_size: int | None = None) -> Profile:
    """Parse a pprof profile (gzip or raw protobuf). Raises ParseError on anything that is not one.

    ``max_size`` caps decompression (None: the default cap, see ``compression``)."""
    raw = maybe_gunzip(data, max_size)
    if not raw:
        raise ParseError("empty input (no profile data)", offset=0, format_name=FORMAT)
    message = _decode(ProfileRawSamples(), raw)
    strings = [s.decode("utf-8", "replace") for s in message.string_table]
    if not strings or strings[0] != "":
        raise ParseError(
            "not a pprof profile: string table missing or string_table[0] is not empty",
            offset=0,
            data=raw[:32],
            format_name=FORMAT,
        )
    string_at = _string_lookup(strings)
    sample_types = [ValueType(string_at(v.type), string_at(v.unit)) for v in message.sample_type]
    if not sample_types:
        raise ParseError("not a pprof profile: no sample types", offset=0, data=raw[:32], format_name=FORMAT)
    mappings = [
        Mapping(
            id=m.id,
            memory_start=m.memory_start,
            memory_limit=m.memory_limit,
            file_offset=m.file_offset,
            filename=string_at(m.filename),
            build_id=string_at(m.build_id),
            has_functions=m.has_functions,
            has_filenames=m.has_filenames,
            has_line_numbers=m.has_line_numbers,
            has_inline_frames=m.has_inline_frames,
        )
        for m in message.mapping
    ]
    functions = [
        Function(f.id, string_at(f.name), string_at(f.system_name), string_at(f.filename), f.start_line)
        for f in message.function
    ]
    function_by_id = {f.id: f for f in functions}
    mapping_by_id = {m.id: m for m in mappings}
    locations = []
    for loc in message.location:
        lines = []
        for line in loc.line:
            function = function_by_id.get(line.function_id)
            if function is None:
                raise ParseError(
                    f"location {loc.id} refers to unknown function id {line.function_id}", format_name=FORMAT
                )
            lines.append(Line(function, line.line, line.column))
        mapping = mapping_by_id.get(loc.mapping_id) if loc.mapping_id else None
        if loc.mapping_id and mapping is None:
            raise ParseError(f"location {loc.id} refers to unknown mapping id {loc.mapping_id}", format_name=FORMAT)
        locations.append(Location(loc.id, mapping, loc.address, tuple(lines), loc.is_folded))

    blobs = list(message.sample)
    try:
        samples = _samples_columnar(blobs, len(sample_types), locations, string_at)
    except _wire.NotColumnar:
        samples = _samples_by_message(raw, len(sample_types), locations, string_at)
    profile = Profile(
        sample_types=sample_types,
        samples=samples,
        locations=locations,
        functions=functions,
        mappings=mappings,
        period_type=(
            ValueType(string_at(message.period_type.type), string_at(message.period_type.unit))
            if message.HasField("period_type")
            else None
        ),
        period=message.period,
        time_nanos=message.time_nanos,
        duration_nanos=message.duration_nanos,
        comments=[string_at(c) for c in message.comment],
        drop_frames=string_at(message.drop_frames),
        keep_frames=string_at(message.keep_frames),
        default_sample_type=string_at(message.default_sample_type),
        doc_url=string_at(message.doc_url),
    )
    profile.check_valid()
    return profile


def _decode(message: Any, raw: bytes) -> Any:
    try:
        message.ParseFromString(raw)
    except DecodeError as exc:
        offset, reason = locate_wire_error(raw)
        raise ParseError(
            f"malformed protobuf: {reason}",
            offset=offset,
            data=raw[max(0, offset - 8) : offset + 24],
            format_name=FORMAT,
        ) from exc
    return message


def _string_lookup(strings: list[str]) -> Callable[[int], str]:
    count = len(strings)

    def string_at(index: int) -> str:
        if 0 <= index < count:
            return strings[index]
        raise ParseError(f"string index {index} outside the string table ({count} entries)", format_name=FORMAT)

    return string_at


def _location_indexer(locations: list[Location]) -> Callable[[_wire.U64], Int32Array]:
    """A function mapping location ids (any integers) to positions in ``locations``; unknown ids are an error."""
    known = np.array([loc.id for loc in locations], dtype=np.uint64)
    largest = int(known.max()) if known.size else 0
    table: Int32Array | None = None
    if largest <= 4 * known.size + 1024:
        # the usual case (Go numbers locations 1..N): a lookup table beats a binary search per frame
        table = np.full(largest + 2, -1, dtype=np.int32)
        table[known] = np.arange(known.size, dtype=np.int32)
    order = np.argsort(known, kind="stable")
    sorted_ids = known[order]

    def to_index(location_ids: _wire.U64) -> Int32Array:
        if table is not None:
            dense = table[np.minimum(location_ids, np.uint64(largest + 1))]
            bad = dense < 0
        else:
            position = np.minimum(np.searchsorted(sorted_ids, location_ids), max(known.size - 1, 0))
            bad = sorted_ids[position] != location_ids
            dense = order[position].astype(np.int32)
        if np.any(bad):
            missing = int(location_ids[np.flatnonzero(bad)[0]])
            raise ParseError(f"a sample refers to unknown location id {missing}", format_name=FORMAT)
        return dense

    return to_index


_CHUNK_BYTES = 1 << 20  # decode samples in ~1 MiB slices: small temporary arrays, same speed


def _samples_columnar(
    blobs: list[bytes], num_types: int, locations: list[Location], string_at: Callable[[int], str]
) -> SampleTable:
    count = len(blobs)
    if count == 0:
        return SampleTable.empty(num_types)
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=count)
    byte_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(sizes, out=byte_offsets[1:])
    bounds = [*np.searchsorted(byte_offsets, np.arange(0, int(byte_offsets[-1]), _CHUNK_BYTES)).tolist(), count]
    to_index = _location_indexer(locations)
    ids: list[Int32Array] = []
    depths: list[_wire.I64] = []
    values: list[_wire.U64] = []
    labels: list[_wire.I64] = []
    label_owners: list[_wire.I64] = []
    for start, stop in itertools.pairwise(bounds):
        if stop > start:
            chunk = _decode_chunk(blobs[start:stop], num_types, int(byte_offsets[start]))
            ids.append(to_index(chunk[0]))
            depths.append(chunk[1])
            values.append(chunk[2])
            labels.append(chunk[3])
            label_owners.append(chunk[4] + start)
    loc_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.concatenate(depths), out=loc_offsets[1:])
    label_set, label_sets = _label_sets(np.concatenate(labels), np.concatenate(label_owners), count, string_at)
    return SampleTable(
        np.concatenate(values).view(np.int64).reshape(count, num_types),
        loc_offsets,
        np.concatenate(ids),
        label_set,
        label_sets,
    )


def _decode_chunk(
    blobs: list[bytes], num_types: int, base_offset: int
) -> tuple[_wire.U64, _wire.I64, _wire.U64, _wire.I64, _wire.I64]:
    """Location ids, stack depths, values, label columns (key, str, num, unit) and label owners of some samples."""
    count = len(blobs)
    tokens = _wire.decode_varints(b"".join(blobs))
    byte_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, blobs), dtype=np.int64, count=count), out=byte_offsets[1:])
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
        raise ParseError(
            f"a sample has {int(value_counts[bad])} values but the profile declares {num_types} sample types",
            offset=base_offset + int(byte_offsets[bad]),
            format_name=FORMAT,
        )
    pick = np.flatnonzero((fields.number == np.uint64(3)) & (fields.wire_type == 2))
    pick = pick[np.argsort(fields.first[pick], kind="stable")]
    label_fields = _wire.walk_fields(tokens, fields.first[pick], fields.stop[pick])
    columns = np.stack(
        [_wire.scalar(tokens, label_fields, number, pick.size).view(np.int64) for number in (1, 2, 3, 4)],
        axis=1,
    )
    return location_ids, np.diff(loc_offsets), values, columns, fields.owner[pick]


def _label_sets(
    columns: _wire.I64, owner: _wire.I64, count: int, string_at: Callable[[int], str]
) -> tuple[Int32Array, list[tuple[Label, ...]]]:
    """Intern label sets. ``columns`` has one (key, str, num, unit) row per label, ``owner`` its sample."""
    label_set = np.zeros(count, dtype=np.int32)
    if owner.size == 0:
        return label_set, [EMPTY_LABELS]
    unique_rows, label_uid = _unique_rows(columns)
    labels = [_make_label(row, string_at) for row in unique_rows.tolist()]
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


def _samples_by_message(
    raw: bytes, num_types: int, locations: list[Location], string_at: Callable[[int], str]
) -> SampleTable:
    message = _decode(ProfileMessage(), raw)  # the envelope parsed; the samples themselves may still be corrupt
    index_of = {loc.id: i for i, loc in enumerate(locations)}
    rows = []
    for number, sample in enumerate(message.sample):
        try:
            stack = [index_of[loc_id] for loc_id in sample.location_id]
        except KeyError as exc:
            raise ParseError(
                f"sample {number} refers to unknown location id {exc.args[0]}", format_name=FORMAT
            ) from exc
        if len(sample.value) != num_types:
            raise ParseError(
                f"sample {number} has {len(sample.value)} values but the profile declares {num_types} sample types",
                format_name=FORMAT,
            )
        labels = tuple(_make_label([lab.key, lab.str, lab.num, lab.num_unit], string_at) for lab in sample.label)
        rows.append((stack, list(sample.value), labels))
    return SampleTable.from_rows(num_types, rows)


__all__ = ["parse_pprof"]
