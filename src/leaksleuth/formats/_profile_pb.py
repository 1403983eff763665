"""The pprof ``profile.proto`` schema, built at import time from a readable field table.

Building the descriptor here (instead of committing protoc output) keeps the schema reviewable, needs no protoc,
and works with every protobuf runtime >= 5. Field numbers follow google/pprof ``proto/profile.proto``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_I64, _U64, _BOOL, _BYTES, _MSG = _F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_BOOL, _F.TYPE_BYTES, _F.TYPE_MESSAGE
_REP, _OPT = _F.LABEL_REPEATED, _F.LABEL_OPTIONAL

# message name -> [(field name, number, type, label, message type or "")]
_SCHEMA: dict[str, list[tuple[str, int, int, int, str]]] = {
    "Profile": [
        ("sample_type", 1, _MSG, _REP, "ValueType"),
        ("sample", 2, _MSG, _REP, "Sample"),
        ("mapping", 3, _MSG, _REP, "Mapping"),
        ("location", 4, _MSG, _REP, "Location"),
        ("function", 5, _MSG, _REP, "Function"),
        ("string_table", 6, _BYTES, _REP, ""),  # bytes: Go strings need not be UTF-8
        ("drop_frames", 7, _I64, _OPT, ""),
        ("keep_frames", 8, _I64, _OPT, ""),
        ("time_nanos", 9, _I64, _OPT, ""),
        ("duration_nanos", 10, _I64, _OPT, ""),
        ("period_type", 11, _MSG, _OPT, "ValueType"),
        ("period", 12, _I64, _OPT, ""),
        ("comment", 13, _I64, _REP, ""),
        ("default_sample_type", 14, _I64, _OPT, ""),
        ("doc_url", 15, _I64, _OPT, ""),
    ],
    "ValueType": [("type", 1, _I64, _OPT, ""), ("unit", 2, _I64, _OPT, "")],
    "Sample": [
        ("location_id", 1, _U64, _REP, ""),
        ("value", 2, _I64, _REP, ""),
        ("label", 3, _MSG, _REP, "Label"),
    ],
    "Label": [
        ("key", 1, _I64, _OPT, ""),
        ("str", 2, _I64, _OPT, ""),
        ("num", 3, _I64, _OPT, ""),
        ("num_unit", 4, _I64, _OPT, ""),
    ],
    "Mapping": [
        ("id", 1, _U64, _OPT, ""),
        ("memory_start", 2, _U64, _OPT, ""),
        ("memory_limit", 3, _U64, _OPT, ""),
        ("file_offset", 4, _U64, _OPT, ""),
        ("filename", 5, _I64, _OPT, ""),
        ("build_id", 6, _I64, _OPT, ""),
        ("has_functions", 7, _BOOL, _OPT, ""),
        ("has_filenames", 8, _BOOL, _OPT, ""),
        ("has_line_numbers", 9, _BOOL, _OPT, ""),
        ("has_inline_frames", 10, _BOOL, _OPT, ""),
    ],
    "Location": [
        ("id", 1, _U64, _OPT, ""),
        ("mapping_id", 2, _U64, _OPT, ""),
        ("address", 3, _U64, _OPT, ""),
        ("line", 4, _MSG, _REP, "Line"),
        ("is_folded", 5, _BOOL, _OPT, ""),
    ],
    "Line": [("function_id", 1, _U64, _OPT, ""), ("line", 2, _I64, _OPT, ""), ("column", 3, _I64, _OPT, "")],
    "Function": [
        ("id", 1, _U64, _OPT, ""),
        ("name", 2, _I64, _OPT, ""),
        ("system_name", 3, _I64, _OPT, ""),
        ("filename", 4, _I64, _OPT, ""),
        ("start_line", 5, _I64, _OPT, ""),
    ],
}

# Same wire format as Profile, but samples stay raw bytes: the reader decodes them column-wise with numpy
# (see ``formats._samples``), which is an order of magnitude faster than touching 200k message objects.
_SCHEMA["ProfileRawSamples"] = [
    ("sample", 2, _BYTES, _REP, "") if name == "sample" else (name, number, ftype, label, tname)
    for name, number, ftype, label, tname in _SCHEMA["Profile"]
]

_PACKAGE = "perftools.profiles"


def _build() -> dict[str, Any]:
    file_proto = descriptor_pb2.FileDescriptorProto(name="leaksleuth/profile.proto", package=_PACKAGE, syntax="proto3")
    for message_name, fields in _SCHEMA.items():
        message = file_proto.message_type.add(name=message_name)
        for name, number, field_type, label, type_name in fields:
            field = message.field.add(name=name, number=number, type=field_type, label=label)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")) for name in _SCHEMA}


_CLASSES = _build()
Profile: Any = _CLASSES["Profile"]
ProfileRawSamples: Any = _CLASSES["ProfileRawSamples"]
