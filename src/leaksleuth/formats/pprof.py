"""pprof protobuf (profile.proto), gzip-compressed or raw, read into ``model.Profile`` (``pprof_write`` writes it back).

Reading: upb decodes everything but the samples; samples stay raw bytes and are decoded column-wise by
``_wire`` (fast path), or message by message when they use unusual wire features (slow path, also the authority
on malformed input).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

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
    if not strings and (
        message.HasField("period_type") or any((message.sample_type, message.sample, message.location))
    ):
        raise ParseError(
            "truncated: the profile has no string table, which writers put last",
            offset=len(raw),
            data=raw[-24:],
            format_name=FORMAT,
        )
    if not strings or strings[0] != "":
        raise ParseError(
            "not a pprof profile: string table missing or string_table[0] is not empty",
            offset=0,
            data=raw[:32],
            format_name=FORMAT,
        )
    try:
        profile = _build(raw, message, _string_lookup(strings))
    except _BadReference as exc:
        raise _located(raw, exc) from None
    profile.check_valid()
    return profile


def _build(raw: bytes, message: Any, string_at: Callable[[int], str]) -> Profile:
    sample_types = _each(message.sample_type, 1, lambda v: ValueType(string_at(v.type), string_at(v.unit)))
    if not sample_types:
        raise ParseError("not a pprof profile: no sample types", offset=0, data=raw[:32], format_name=FORMAT)
    mappings = _each(
        message.mapping,
        3,
        lambda m: Mapping(
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
        ),
    )
    functions = _each(
        message.function,
        5,
        lambda f: Function(f.id, string_at(f.name), string_at(f.system_name), string_at(f.filename), f.start_line),
    )
    function_by_id = {f.id: f for f in functions}
    mapping_by_id = {m.id: m for m in mappings}

    def location(loc: Any) -> Location:
        lines = []
        for line in loc.line:
            function = function_by_id.get(line.function_id)
            if function is None:
                raise _BadReference(f"refers to unknown function id {line.function_id}")
            lines.append(Line(function, line.line, line.column))
        mapping = mapping_by_id.get(loc.mapping_id) if loc.mapping_id else None
        if loc.mapping_id and mapping is None:
            raise _BadReference(f"refers to unknown mapping id {loc.mapping_id}")
        return Location(loc.id, mapping, loc.address, tuple(lines), loc.is_folded)

    locations = _each(message.location, 4, location)

    def top_string(field: int, index: int) -> str:
        try:
            return string_at(index)
        except _BadReference as exc:
            raise exc.at(field) from None

    blobs = list(message.sample)
    try:
        samples = _samples_columnar(blobs, len(sample_types), locations, string_at)
    except _wire.NotColumnar:
        samples = _samples_by_message(raw, len(sample_types), locations, string_at)
    return Profile(
        sample_types=sample_types,
        samples=samples,
        locations=locations,
        functions=functions,
        mappings=mappings,
        period_type=(
            ValueType(top_string(11, message.period_type.type), top_string(11, message.period_type.unit))
            if message.HasField("period_type")
            else None
        ),
        period=message.period,
        time_nanos=message.time_nanos,
        duration_nanos=message.duration_nanos,
        comments=[top_string(13, c) for c in message.comment],
        drop_frames=top_string(7, message.drop_frames),
        keep_frames=top_string(8, message.keep_frames),
        default_sample_type=top_string(14, message.default_sample_type),
        doc_url=top_string(15, message.doc_url),
    )


# ---- what a message refers to and is not there: said with the offset of the message ------------------------

_FIELD_NAMES = {1: "sample type", 2: "sample", 3: "mapping", 4: "location", 5: "function", 7: "drop_frames"}
_FIELD_NAMES |= {8: "keep_frames", 11: "period type", 13: "comment", 14: "default_sample_type", 15: "doc_url"}
_WITH_IDS = frozenset({3, 4, 5})


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


_Item = TypeVar("_Item")
_Built = TypeVar("_Built")


def _each(items: Iterable[_Item], field: int, build: Callable[[_Item], _Built]) -> list[_Built]:
    out = []
    for index, item in enumerate(items):
        try:
            out.append(build(item))
        except _BadReference as exc:
            raise exc.at(field, index, getattr(item, "id", None) if field in _WITH_IDS else None) from None
    return out


def _located(raw: bytes, exc: _BadReference) -> ParseError:
    fields = _wire.top_level_fields(raw)
    offsets = [offset for number, offset in fields if number == exc.field]
    offset = offsets[exc.index] if -len(offsets) <= exc.index < len(offsets) else None
    name = _FIELD_NAMES.get(exc.field, "profile")
    if exc.ident is not None:
        where = f"{name} id {exc.ident}"
    else:
        where = f"{name} {exc.index}" if exc.index >= 0 else f"the profile's {name}"
    text = f"{where} {exc.predicate}"
    if "string index" in exc.predicate and fields and fields[-1][0] == 6:
        text += "; truncated: the input ends inside the string table"
    quoted = raw[offset : offset + 24] if offset is not None else raw[:24]
    return ParseError(text, offset=offset, data=quoted, format_name=FORMAT)


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
        raise _BadReference(f"refers to string index {index} outside the string table ({count} entries)")

    return string_at


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
            chunk = _decode_chunk(blobs[start:stop], num_types, start)
            index, unknown = to_index(chunk[0])
            if unknown >= 0:
                sample = start + int(np.searchsorted(np.cumsum(chunk[1]), unknown, side="right"))
                raise _BadReference(f"refers to unknown location id {int(chunk[0][unknown])}").at(2, sample)
            ids.append(index)
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
    blobs: list[bytes], num_types: int, first_sample: int
) -> tuple[_wire.U64, _wire.I64, _wire.U64, _wire.I64, _wire.I64]:
    """Location ids, stack depths, values, label columns (key, str, num, unit) and label owners of some samples
    (samples ``first_sample`` onwards)."""
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
        predicate = f"has {int(value_counts[bad])} values but the profile declares {num_types} sample types"
        raise _BadReference(predicate).at(2, first_sample + bad)
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
    labels = []
    for uid, row in enumerate(unique_rows.tolist()):
        try:
            labels.append(_make_label(row, string_at))
        except _BadReference as exc:
            raise exc.at(2, int(owner[np.flatnonzero(label_uid == uid)[0]])) from None
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
            rows.append(_sample_row(sample, num_types, index_of, string_at))
        except _BadReference as exc:
            raise exc.at(2, number) from None
    return SampleTable.from_rows(num_types, rows)


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


__all__ = ["parse_pprof"]
