"""Write a ``model.Profile`` as profile.proto bytes (gzip-compressed by default): ``go tool pprof`` opens them."""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np

from leaksleuth.formats._profile_pb import Profile as ProfileMessage
from leaksleuth.model.profile import Profile


def write_pprof(profile: Profile, *, compress: bool = True) -> bytes:
    """Serialize to profile.proto bytes (gzip-compressed by default, as ``go tool pprof`` expects on disk)."""
    # one function on purpose: one pass over the tables sharing the string table being built (profile.proto's
    # field order), as pprof's own encoder is written
    profile.check_valid()
    strings: dict[str, int] = {"": 0}

    def index(text: str) -> int:
        found = strings.get(text)
        if found is None:
            found = strings[text] = len(strings)
        return found

    message: Any = ProfileMessage()
    for value_type in profile.sample_types:
        message.sample_type.add(type=index(value_type.type), unit=index(value_type.unit))
    for m in profile.mappings:
        message.mapping.add(
            id=m.id,
            memory_start=m.memory_start,
            memory_limit=m.memory_limit,
            file_offset=m.file_offset,
            filename=index(m.filename),
            build_id=index(m.build_id),
            has_functions=m.has_functions,
            has_filenames=m.has_filenames,
            has_line_numbers=m.has_line_numbers,
            has_inline_frames=m.has_inline_frames,
        )
    for loc in profile.locations:
        entry = message.location.add(
            id=loc.id,
            mapping_id=loc.mapping.id if loc.mapping else 0,
            address=loc.address,
            is_folded=loc.is_folded,
        )
        for line in loc.lines:
            entry.line.add(function_id=line.function.id, line=line.line, column=line.column)
    for f in profile.functions:
        message.function.add(
            id=f.id,
            name=index(f.name),
            system_name=index(f.system_name),
            filename=index(f.filename),
            start_line=f.start_line,
        )
    location_ids = np.array([loc.id for loc in profile.locations], dtype=np.uint64)
    table = profile.samples
    all_ids = location_ids[table.loc_index].tolist() if table.loc_index.size else []
    offsets = table.loc_offsets.tolist()
    label_messages = [
        [
            {"key": index(lab.key), "str": index(lab.str)}
            if lab.str is not None
            else {"key": index(lab.key), "num": lab.num or 0, "num_unit": index(lab.num_unit)}
            for lab in label_set
        ]
        for label_set in table.label_sets
    ]
    set_ids = table.label_set.tolist()
    for i, row in enumerate(table.values.tolist()):
        sample = message.sample.add(location_id=all_ids[offsets[i] : offsets[i + 1]], value=row)
        for label in label_messages[set_ids[i]]:
            sample.label.add(**label)
    if profile.period_type is not None:
        message.period_type.type = index(profile.period_type.type)
        message.period_type.unit = index(profile.period_type.unit)
    message.period = profile.period
    message.time_nanos = profile.time_nanos
    message.duration_nanos = profile.duration_nanos
    message.comment.extend(index(c) for c in profile.comments)
    message.drop_frames = index(profile.drop_frames)
    message.keep_frames = index(profile.keep_frames)
    message.default_sample_type = index(profile.default_sample_type)
    message.doc_url = index(profile.doc_url)
    message.string_table.extend(s.encode("utf-8", "surrogateescape") for s in strings)
    raw: bytes = message.SerializeToString()
    return gzip.compress(raw, compresslevel=6, mtime=0) if compress else raw
