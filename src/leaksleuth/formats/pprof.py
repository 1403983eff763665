"""pprof protobuf (profile.proto), gzip-compressed or raw, read into ``model.Profile`` (``pprof_write`` writes it back).

Reading: upb decodes everything but the samples; samples stay raw bytes and are decoded chunk by chunk, column-wise
(``_samples``, ``_wire``), within a memory budget (``_samples.MemoryBudget``: a few KB of gzip must not become
gigabytes). upb holds ~40 bytes per repeated entry while it decodes, so when a cheap byte count says the input could
have more entries than the budget allows, a Python walk of the top level finds the samples instead (and refuses the
profile as soon as it is over budget) and upb sees only the rest.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np
from google.protobuf.message import DecodeError

from leaksleuth.errors import ParseError
from leaksleuth.formats import _wire
from leaksleuth.formats._profile_pb import ProfileRawSamples
from leaksleuth.formats._samples import (
    UPB_FIELD_BYTES,
    MemoryBudget,
    SampleChunk,
    _BadReference,
    chunk_bounds,
    decode_samples,
)
from leaksleuth.formats._wire import locate_wire_error
from leaksleuth.formats.compression import maybe_gunzip
from leaksleuth.model.profile import Function, Line, Location, Mapping, Profile, ValueType

FORMAT = "pprof"


def parse_pprof(data: bytes, *, max_size: int | None = None, walk_top_level: bool | None = None) -> Profile:
    """Parse a pprof profile (gzip or raw protobuf). Raises ParseError on anything that is not one, and on a
    profile that would take more memory than its budget (``_samples.MemoryBudget``).

    ``max_size`` caps decompression (None: the default cap, see ``compression``). ``walk_top_level`` forces the
    Python walk of the top level on (True) or off (False); None: when upb might hold too much (tests use it)."""
    raw = maybe_gunzip(data, max_size)
    if not raw:
        raise ParseError("empty input (no profile data)", offset=0, format_name=FORMAT)
    budget = MemoryBudget(len(raw))
    if walk_top_level is None:
        walk_top_level = _wire.count_possible_entries(raw) * UPB_FIELD_BYTES > budget.sample_limit
    split = _split(raw, budget) if walk_top_level else None
    message = _decode(ProfileRawSamples(), split.envelope if split else raw, raw)
    samples = _SampleSource.from_split(raw, split) if split else _SampleSource.from_message(message)
    counts = {3: len(message.mapping), 4: len(message.location), 5: len(message.function)}
    budget.check_tables(counts | {6: len(message.string_table)})
    strings = [s.decode("utf-8", "replace") for s in message.string_table]
    if not strings and (message.HasField("period_type") or any((message.sample_type, samples.count, counts[4]))):
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
        profile = _build(raw, message, samples, _string_lookup(strings), budget)
    except _BadReference as exc:
        raise _located(raw, exc) from None
    profile.check_valid()
    return profile


def _split(raw: bytes, budget: MemoryBudget) -> _wire.TopLevelSplit:
    def progress(samples: int, sample_types: int, tables: dict[int, int], done: bool) -> None:
        # 16 bytes: a sample's span in the walk; a profile declares at least one sample type
        budget.check_samples(samples, sample_types, 0, extra=16 * samples, more=not done)
        budget.check_tables(tables)

    try:
        return _wire.split_samples(raw, progress)
    except _wire.MalformedTopLevel:
        raise _malformed(raw) from None


class _SampleSource:
    """The encoded samples, wherever they were found (upb's list, or spans of the input), handed out in chunks."""

    def __init__(self, sizes: _wire.I64, read: Callable[[int, int], bytes]) -> None:
        self.sizes = sizes
        self.count = int(sizes.shape[0])
        self._read = read  # samples [start, stop) back to back

    @classmethod
    def from_message(cls, message: Any) -> _SampleSource:
        blobs = message.sample
        sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
        return cls(sizes, lambda start, stop: b"".join(blobs[start:stop]))

    @classmethod
    def from_split(cls, raw: bytes, split: _wire.TopLevelSplit) -> _SampleSource:
        spans = np.frombuffer(split.sample_spans, dtype=np.int64).reshape(-1, 2)
        view = memoryview(raw)
        return cls(
            spans[:, 1] - spans[:, 0],
            lambda start, stop: b"".join(view[a:b] for a, b in spans[start:stop].tolist()),
        )

    def chunks(self) -> Iterator[SampleChunk]:
        bounds = chunk_bounds(self.sizes)
        for start, stop in itertools.pairwise(bounds):
            yield SampleChunk(start, self._read(start, stop), self.sizes[start:stop])


def _build(
    raw: bytes, message: Any, samples: _SampleSource, string_at: Callable[[int], str], budget: MemoryBudget
) -> Profile:
    # one function on purpose: the tables are decoded in dependency order (strings, functions, locations,
    # samples) into locals the next step indexes; the hot loops stay free of attribute lookups
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
        try:
            lines = tuple([Line(function_by_id[line.function_id], line.line, line.column) for line in loc.line])
        except KeyError:
            unknown = next(line.function_id for line in loc.line if line.function_id not in function_by_id)
            raise _BadReference(f"refers to unknown function id {unknown}") from None
        mapping = mapping_by_id.get(loc.mapping_id) if loc.mapping_id else None
        if loc.mapping_id and mapping is None:
            raise _BadReference(f"refers to unknown mapping id {loc.mapping_id}")
        return Location(loc.id, mapping, loc.address, lines, loc.is_folded)

    locations = _each(message.location, 4, location)

    def top_string(field: int, index: int) -> str:
        try:
            return string_at(index)
        except _BadReference as exc:
            raise exc.at(field) from None

    try:
        table = decode_samples(samples.chunks(), samples.count, len(sample_types), locations, string_at, budget)
    except DecodeError:
        raise _malformed(raw) from None
    return Profile(
        sample_types=sample_types,
        samples=table,
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


_Item = TypeVar("_Item")
_Built = TypeVar("_Built")


def _each(items: Iterable[_Item], field: int, build: Callable[[_Item], _Built]) -> list[_Built]:
    try:
        return [build(item) for item in items]
    except _BadReference:
        pass  # again, one by one, to say which item
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


def _decode(message: Any, data: bytes, raw: bytes) -> Any:
    """``message`` parsed from ``data`` (all of ``raw`` or its envelope); errors are located in ``raw``."""
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise _malformed(raw) from exc
    return message


def _malformed(raw: bytes) -> ParseError:
    offset, reason = locate_wire_error(raw)
    return ParseError(
        f"malformed protobuf: {reason}",
        offset=offset,
        data=raw[max(0, offset - 8) : offset + 24],
        format_name=FORMAT,
    )


def _string_lookup(strings: list[str]) -> Callable[[int], str]:
    count = len(strings)

    def string_at(index: int) -> str:
        if 0 <= index < count:
            return strings[index]
        raise _BadReference(f"refers to string index {index} outside the string table ({count} entries)")

    return string_at


__all__ = ["parse_pprof"]
