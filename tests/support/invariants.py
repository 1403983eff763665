"""What every successful parse must satisfy, whatever the input (the fuzz tests check it on damaged captures).

A parser that returns is making promises: the model's types are right, every reference points at something that
exists, and the numbers add up. ``check_parsed`` asserts them, independently of the model's own ``check_valid``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leaksleuth.formats import Format, Parsed
from leaksleuth.model.goroutines import Frame, GoroutineDump, Stack
from leaksleuth.model.memstats import MemStats
from leaksleuth.model.profile import Function, Label, Line, Location, Mapping, Profile, ValueType


def check_parsed(parsed: Parsed) -> None:
    assert isinstance(parsed, Parsed) and isinstance(parsed.format, Format) and parsed.format is not Format.UNKNOWN
    assert isinstance(parsed.compressed, bool)
    members = {"profile": parsed.profile, "dump": parsed.dump, "memstats": parsed.memstats}
    assert any(value is not None for value in members.values()), parsed.format
    if parsed.profile is not None:
        check_profile(parsed.profile)
    if parsed.dump is not None:
        check_dump(parsed.dump)
    if parsed.memstats is not None:
        check_memstats(parsed.memstats)
    assert isinstance(parsed.kind, str) and parsed.kind


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_profile(profile: Profile) -> None:
    assert profile.sample_types and all(isinstance(t, ValueType) for t in profile.sample_types)
    assert all(isinstance(t.type, str) and isinstance(t.unit, str) for t in profile.sample_types)
    functions = {id(f) for f in profile.functions}
    for function in profile.functions:
        assert isinstance(function, Function) and _is_int(function.id) and function.id > 0
        assert all(isinstance(text, str) for text in (function.name, function.system_name, function.filename))
        assert _is_int(function.start_line)
    mappings = {id(m) for m in profile.mappings}
    assert all(isinstance(m, Mapping) and _is_int(m.id) and isinstance(m.filename, str) for m in profile.mappings)
    for location in profile.locations:
        assert isinstance(location, Location) and _is_int(location.id) and location.id > 0
        assert location.mapping is None or id(location.mapping) in mappings, location  # it is the profile's own
        for line in location.lines:
            assert isinstance(line, Line) and _is_int(line.line) and _is_int(line.column)
            assert id(line.function) in functions, line  # a frame's function is one of the profile's functions
    table = profile.samples
    count, num_types = len(table), len(profile.sample_types)
    assert table.values.dtype == np.int64 and table.values.shape == (count, num_types)
    assert table.loc_offsets.dtype == np.int64 and table.loc_offsets.shape == (count + 1,)
    assert table.loc_offsets[0] == 0 and int(table.loc_offsets[-1]) == table.loc_index.size
    assert bool(np.all(np.diff(table.loc_offsets) >= 0))
    assert table.loc_index.dtype == np.int32
    assert table.loc_index.size == 0 or 0 <= int(table.loc_index.min()) <= int(table.loc_index.max()) < len(
        profile.locations
    )  # every location a sample refers to exists
    assert table.label_set.dtype == np.int32 and table.label_set.shape == (count,)
    assert table.label_sets and table.label_sets[0] == ()
    assert count == 0 or 0 <= int(table.label_set.min()) <= int(table.label_set.max()) < len(table.label_sets)
    for labels in table.label_sets:
        for label in labels:
            assert isinstance(label, Label) and isinstance(label.key, str) and isinstance(label.num_unit, str)
            assert (label.str is None or isinstance(label.str, str)) and (label.num is None or _is_int(label.num))
    # the numbers add up: per-sample values, materialised samples and totals agree
    totals = profile.totals()
    assert totals == [int(x) for x in table.values.sum(axis=0, dtype=np.int64)] if count else totals == [0] * num_types
    samples = list(profile.iter_samples())
    assert len(samples) == count
    summed = [0] * num_types
    for sample in samples:
        assert len(sample.values) == num_types and all(_is_int(v) for v in sample.values)
        assert all(isinstance(location, Location) for location in sample.locations)
        summed = [a + b for a, b in zip(summed, sample.values, strict=True)]
    wrapped = [((value + (1 << 63)) % (1 << 64)) - (1 << 63) for value in summed]  # numpy sums wrap at 64 bits
    assert wrapped == totals


def _check_frame(frame: Frame) -> None:
    assert isinstance(frame, Frame) and isinstance(frame.function, str) and isinstance(frame.file, str)
    assert _is_int(frame.line) and frame.line >= 0 and _is_int(frame.pc_offset) and frame.pc_offset >= -1
    assert isinstance(frame.inlined, bool)


def _check_stack(stack: Stack) -> None:
    assert isinstance(stack, Stack) and isinstance(stack.frames, tuple)
    for frame in stack.frames:
        _check_frame(frame)
    if stack.created_by is not None:
        _check_frame(stack.created_by)
    assert _is_int(stack.elided) and stack.elided >= -1 and 0 <= stack.elided_at <= len(stack.frames)


def check_dump(dump: GoroutineDump) -> None:
    assert isinstance(dump.goroutines, list) and isinstance(dump.truncated, bool)
    assert all(isinstance(line, str) for line in dump.other_text)
    for goroutine in dump.goroutines:
        assert _is_int(goroutine.id) and goroutine.id >= 0 and isinstance(goroutine.state, str)
        assert _is_int(goroutine.wait_minutes) and goroutine.wait_minutes >= 0
        assert goroutine.parent_id is None or _is_int(goroutine.parent_id)
        assert isinstance(goroutine.truncated, bool) and isinstance(goroutine.leaked, bool)
        _check_stack(goroutine.stack)
        for ancestor in goroutine.ancestors:
            assert _is_int(ancestor.goroutine_id)
            _check_stack(ancestor.stack)
        assert len(goroutine.args) <= len(goroutine.frames)
    # the counts add up: every goroutine is in exactly one stack and one state
    assert sum(dump.stacks().values()) == len(dump.goroutines) == sum(dump.states().values())
    if dump.goroutines and dump.goroutines[-1].truncated:
        assert dump.truncated  # a cut last goroutine makes the dump truncated


def check_memstats(stats: MemStats) -> None:
    for name, value in stats.known().items():
        if name == "go_version":
            assert isinstance(value, str)
        elif name in ("gc_cpu_fraction", "process_start_seconds") or name.endswith("_seconds"):
            assert isinstance(value, int | float) and not isinstance(value, bool), name
            assert not name.startswith("gc_pause_") or 0 <= value < 3600, (name, value)
        else:
            assert _is_int(value), (name, value)
    assert all(isinstance(k, str) and isinstance(v, int | float) for k, v in stats.extra.items())
    assert all(_is_int(pause) and pause >= 0 for pause in stats.gc_pauses_ns)
    assert len(stats.gc_pauses_ns) <= min(256, stats.num_gc or 0)
