"""Legacy text profiles (``?debug=1``): goroutine / goroutineleak / threadcreate counts and the heap profile.

Count profile (``runtime/pprof.printCountProfile``)::

    goroutine profile: total 9                                   HEADER
    5 @ 0x48c12a 0x418c9c 0x67e3de 0x492fc1                      RECORD: count @ return addresses
    # labels: {"handler":"/api"}                                 optional pprof labels
    #	0x67e3dd	main.leak+0x1d	/tmp/main.go:10                  FRAME: pc, function+offset, file:line
                                                                 blank line ends the record
Heap profile (``writeHeapInternal``)::

    heap profile: 2: 1048688 [2: 1048689] @ heap/1048576         HEADER: inuse, [alloc], 2*MemProfileRate
    1: 112 [1: 112] @ 0x489de5 0x421f05                           RECORD: inuse objs: bytes [alloc objs: bytes]
    #	0x67e3dd	main.leak+0x1d	/tmp/main.go:10
    # runtime.MemStats ...                                       TRAILER (``# Name = value``)

Frames are symbolised from the ``#`` lines (pprof itself cannot do that without the binary). The runtime
(``printStackRecord``) writes one ``#`` line per address, naming its PC (the return address minus one), but hides
``runtime.goexit`` and the ``runtime.*`` frames at the top of a stack (the allocator, ``gopark``…); those addresses
still appear on the ``@`` line. So a location is named by the ``#`` line of its PC wherever in the file it was
printed, and a stack keeps what the proto writer of the same profile keeps:

* heap: hidden top frames are dropped, as ``writeHeapProto`` drops them (``hideRuntime``), so flat lands on the
  user function that allocated, like in ``/debug/pprof/heap``;
* count profiles: the proto keeps runtime frames, so a hidden top frame stays when some record names its PC
  (a stack of runtime frames only is printed in full), and is dropped when none does (an unnamed address would
  only collect the flat as ``<unknown>``);
* an address never printed below the first printed frame is ``runtime.goexit``, which the proto drops too.

A ``#`` line whose PC is on no address is a virtual PC that ``CallersFrames`` inserted for an inlined caller: it is
an outer line of the frame before it. Heap values are unsampled exactly like pprof's legacy parser does
(``scaleHeapSample``), so numbers match ``go tool pprof``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from leaksleuth.errors import ParseError
from leaksleuth.formats.memstats import parse_memstats_trailer
from leaksleuth.model.memstats import MemStats
from leaksleuth.model.profile import Function, Label, Line, Location, Profile, SampleTable, ValueType

_COUNT_HEADER = re.compile(r"(\w+) profile: total (\d+)\s*$")
_COUNT_RECORD = re.compile(r"(\d+) @((?: 0x[0-9a-f]+)*)\s*$")
_HEAP_HEADER = re.compile(r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *(heap[_a-z0-9]*)/?(\d*)\s*$")
_HEAP_RECORD = re.compile(r"(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *\] *@((?: 0x[0-9a-f]+)*)\s*$")


@dataclass(slots=True)
class HeapText:
    profile: Profile
    memstats: MemStats | None


@dataclass(slots=True)
class _Record:
    """One ``@`` record: its addresses, raw values, labels, line number and the frames printed below it."""

    addresses: list[int]
    values: list[int]
    labels: tuple[Label, ...]
    line_number: int
    printed: list[tuple[int, Line | None]]  # (pc, line) per ``#`` line in order; None: ``#\t0x…`` without a name


class _Symbols:
    """Builds locations and functions from ``#`` frame lines, shared across records."""

    def __init__(self) -> None:
        self.functions: dict[tuple[str, str], Function] = {}
        self.locations: dict[int, Location] = {}
        self.location_index: dict[int, int] = {}
        self.order: list[Location] = []
        self.lines: dict[int, tuple[Line, ...]] = {}  # pc -> its lines, innermost first, from any record

    def function(self, name: str, file: str) -> Function:
        key = (name, file)
        found = self.functions.get(key)
        if found is None:
            found = self.functions[key] = Function(len(self.functions) + 1, name, name, file)
        return found

    def learn(self, record: _Record) -> None:
        """Remember the lines printed for each PC; a virtual PC of an inlined caller joins the frame before it."""
        on_stack = {address - 1 for address in record.addresses}
        previous: int | None = None
        for pc, line in record.printed:
            if pc in on_stack:
                previous = pc
                if line is not None and pc not in self.lines:
                    self.lines[pc] = (line,)
            elif previous is not None and line is not None and line not in self.lines.get(previous, ()):
                self.lines[previous] = (*self.lines.get(previous, ()), line)

    def stack(self, record: _Record, *, heap: bool) -> list[int]:
        """The record's location indices: what the proto writer of the same profile would keep (module doc)."""
        printed = {pc for pc, _ in record.printed}
        indices = []
        above_printed = True  # still in the top frames printStackRecord hid
        for address in record.addresses:
            pc = address - 1  # return address -> call instruction, as pprof and the runtime do
            if pc in printed:
                above_printed = False
            elif not above_printed or heap or pc not in self.lines:
                continue
            indices.append(self._location(pc))
        return indices

    def _location(self, pc: int) -> int:
        index = self.location_index.get(pc)
        if index is None:
            location = Location(len(self.order) + 1, None, pc, self.lines.get(pc, ()))
            index = self.location_index[pc] = len(self.order)
            self.order.append(location)
        return index


def _frame_line(text: str, line_number: int, symbols: _Symbols) -> tuple[int, Line | None]:
    """``#\\t0x67e3dd\\tmain.leak+0x1d\\t/tmp/main.go:10`` -> (pc, Line); tabwriter may pad with several tabs."""
    parts = [part for part in text[1:].split("\t") if part]
    try:
        pc = int(parts[0], 16)
    except (IndexError, ValueError) as exc:
        raise ParseError("bad frame line", line=line_number, data=text, format_name="debug=1 profile") from exc
    if len(parts) < 3:
        return pc, None
    name = parts[1].rpartition("+0x")[0] or parts[1]
    file, _, line_text = parts[2].rpartition(":")
    if not line_text.isdigit():
        raise ParseError("bad file:line in frame", line=line_number, data=text, format_name="debug=1 profile")
    return pc, Line(symbols.function(name, file), int(line_text))


def parse_count_profile(data: bytes | str) -> Profile:
    """``goroutine profile: total N`` (also goroutineleak, threadcreate) -> Profile with one count value."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = text.split("\n")
    header = _COUNT_HEADER.match(lines[0]) if lines else None
    if header is None:
        raise ParseError(
            "not a debug=1 count profile (expected 'goroutine profile: total N')",
            line=1,
            data=lines[0] if lines else "",
            format_name="debug=1 profile",
        )
    name = header.group(1)
    symbols = _Symbols()
    records = _parse_records(lines, 1, symbols, heap=False)
    rows = [(symbols.stack(record, heap=False), record.values, record.labels) for record in records]
    value_type = ValueType(name, "count")
    profile = Profile(
        sample_types=[value_type],
        samples=SampleTable.from_rows(1, rows),
        locations=symbols.order,
        functions=list(symbols.functions.values()),
        period_type=value_type,
        period=1,
    )
    total = int(header.group(2))
    counted = sum(record.values[0] for record in records)
    if counted < total or not text.endswith("\n"):  # cut short: the records are a lower bound
        profile.comments.append(f"truncated: header says {total}, records hold {counted}")
    return profile


def parse_heap_text(data: bytes | str) -> HeapText:
    """``heap profile: …`` (debug=1) -> a Profile scaled like pprof's legacy parser, and the MemStats trailer."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = text.split("\n")
    header = _HEAP_HEADER.match(lines[0]) if lines else None
    if header is None:
        raise ParseError(
            "not a debug=1 heap profile (expected 'heap profile: N: N [N: N] @ heap/RATE')",
            line=1,
            data=lines[0] if lines else "",
            format_name="heap debug=1",
        )
    sampling = header.group(5)
    period = int(header.group(6) or 0)
    if sampling == "heap":
        period //= 2  # the header carries 2*MemProfileRate
    elif sampling == "heapprofile":
        period = 1
    elif sampling not in ("heap_v2", "heapz_v2"):
        raise ParseError(f"unknown heap sampling {sampling!r}", line=1, data=lines[0], format_name="heap debug=1")
    symbols = _Symbols()
    scaled_rows = []
    for record in _parse_records(lines, 1, symbols, heap=True):
        inuse_count, inuse_bytes, alloc_count, alloc_bytes = record.values
        values: list[int] = []
        block_size = 0
        for count, size in ((alloc_count, alloc_bytes), (inuse_count, inuse_bytes)):
            if count == 0 and size != 0:
                raise ParseError(
                    f"count is 0 but size is {size}",
                    line=record.line_number,
                    data=lines[record.line_number - 1],
                    format_name="heap debug=1",
                )
            if count:
                block_size = size // count
            values.extend(_scale_heap_sample(count, size, period))
        labels = (Label("bytes", num=block_size),)
        scaled_rows.append((symbols.stack(record, heap=True), values, labels))
    sample_types = [
        ValueType("alloc_objects", "count"),
        ValueType("alloc_space", "bytes"),
        ValueType("inuse_objects", "count"),
        ValueType("inuse_space", "bytes"),
    ]
    profile = Profile(
        sample_types=sample_types,
        samples=SampleTable.from_rows(4, scaled_rows),
        locations=symbols.order,
        functions=list(symbols.functions.values()),
        period_type=ValueType("space", "bytes"),
        period=period,
        default_sample_type="inuse_space",
    )
    if not text.endswith("\n"):
        profile.comments.append("truncated: the text ends mid-line")
    trailer_at = next((i for i, line in enumerate(lines) if line.startswith("# runtime.MemStats")), None)
    memstats = parse_memstats_trailer(lines[trailer_at + 1 :]) if trailer_at is not None else None
    return HeapText(profile, memstats)


def _scale_heap_sample(count: int, size: int, rate: int) -> tuple[int, int]:
    """pprof's ``scaleHeapSample``: undo Poisson sampling at MemProfileRate ``rate``."""
    if count == 0 or size == 0:
        return 0, 0
    if rate <= 1:
        return count, size
    average = size / count
    kept = 1 - math.exp(-average / rate)  # pprof's formula, kept as is so values round as pprof's do
    if kept == 0:
        raise ParseError(f"sampling rate {rate} is too large for {size}-byte samples", format_name="heap debug=1")
    scale = 1 / kept
    return int(count * scale), int(size * scale)


def _parse_records(lines: list[str], start: int, symbols: _Symbols, *, heap: bool) -> list[_Record]:
    """Records until the MemStats trailer or the end; their frames are learnt by ``symbols`` (stacks come after:
    a PC may be named by a later record)."""
    record_re = _HEAP_RECORD if heap else _COUNT_RECORD
    kind = "heap debug=1" if heap else "debug=1 profile"
    records: list[_Record] = []
    pending: _Record | None = None
    if lines and lines[-1]:
        # the runtime ends every line with a newline: a last line without one was cut, and even when it still
        # parses its numbers may be cut short ("main.go:12" -> "main.go:1"); it is dropped and the cut flagged
        lines = lines[:-1]
    for number, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            pending = None
            continue
        if line.startswith("# runtime.MemStats"):
            break
        if line.startswith("#"):
            if pending is None:
                raise ParseError("frame line outside a record", line=number, data=line, format_name=kind)
            if line.startswith("# labels: "):
                pending.labels = _count_labels(line[10:], number)
            else:
                pending.printed.append(_frame_line(line, number, symbols))
            continue
        match = record_re.match(line)
        if match is None:
            raise ParseError("unexpected line", line=number, data=line, format_name=kind)
        addresses = [int(a, 16) for a in match.group(5 if heap else 2).split()]
        values = [int(v) for v in match.groups()[: (4 if heap else 1)]]
        if max(values) >= 1 << 63:
            raise ParseError("a value beyond the 64-bit range", line=number, data=line, format_name=kind)
        pending = _Record(addresses, values, (), number, [])
        records.append(pending)
    for record in records:
        symbols.learn(record)
    return records


def _count_labels(text: str, number: int) -> tuple[Label, ...]:
    """``{"k":"v", "k2":"v2"}`` written with Go's %q (a JSON string in practice)."""
    labels = []
    for match in re.finditer(r'("(?:[^"\\]|\\.)*"):("(?:[^"\\]|\\.)*")', text):
        try:
            key, value = json.loads(match.group(1)), json.loads(match.group(2))
        except ValueError as exc:
            raise ParseError("bad label", line=number, data=text, format_name="debug=1 profile") from exc
        labels.append(Label(key, str=value))
    return tuple(labels)
