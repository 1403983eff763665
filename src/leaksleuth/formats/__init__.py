"""Bytes -> model and back, for every format the Go runtime emits. Pure: no network, disk or clock.

``sniff(data)`` names the format of a blob; ``parse(data)`` dispatches to the right parser.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leaksleuth.errors import ParseError
from leaksleuth.formats.compression import is_gzip, maybe_gunzip, resolve_max_size

if TYPE_CHECKING:  # each parser imports its model: a dump's parse does not pay for MemStats' (nor numpy's)
    from leaksleuth.model.goroutines import GoroutineDump
    from leaksleuth.model.memstats import MemStats
    from leaksleuth.model.profile import Profile


class Format(enum.StrEnum):
    PPROF = "pprof"  # profile.proto, gzip or raw
    GOROUTINE_DUMP = "goroutine-dump"  # debug=2, panic, SIGQUIT, runtime.Stack(all)
    COUNT_TEXT = "count-text"  # goroutine / goroutineleak / threadcreate debug=1
    HEAP_TEXT = "heap-text"  # heap / allocs debug=1
    EXPVAR = "expvar"  # /debug/vars
    PROMETHEUS = "prometheus"  # /metrics text exposition
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Parsed:
    """What a blob turned out to be. Exactly the members that the format carries are set."""

    format: Format
    profile: Profile | None = None
    dump: GoroutineDump | None = None
    memstats: MemStats | None = None
    compressed: bool = False

    @property
    def kind(self) -> str:
        """``goroutine``, ``heap``, ``allocs``, ``goroutineleak``, ``cpu``… as far as the content tells."""
        if self.dump is not None:
            return "goroutine"
        if self.memstats is not None and self.profile is None:
            return "metrics"
        if self.profile is not None:
            return profile_kind(self.profile)
        return "unknown"


def profile_kind(profile: Profile) -> str:
    types = [t.type for t in profile.sample_types]
    if "inuse_space" in types:
        return "heap" if profile.default_sample_type != "alloc_space" else "allocs"
    if "alloc_space" in types:
        return "allocs"
    if types == ["samples", "cpu"] or "cpu" in types:
        return "cpu"
    if "contentions" in types and "delay" in types:
        return "contention"  # block and mutex profiles look the same inside; the URL tells them apart
    if len(types) == 1 and profile.sample_types[0].unit == "count":
        return types[0]  # goroutine, goroutineleak, threadcreate
    return "profile"


_HEADER = rb"goroutine [0-9]+ (?:gp=\S+ m=\S+ (?:mp=\S+ )?)?\["
_GOROUTINE_HEADER = re.compile(rb"^" + _HEADER, re.MULTILINE)
_LATER_GOROUTINE_HEADER = re.compile(rb"\n" + _HEADER)  # a literal start: searched fast through a 200 MB log
_COUNT_HEADER = re.compile(rb"\w+ profile: total \d+")
_PROMETHEUS_LINE = re.compile(rb"^(?:# (?:HELP|TYPE) \S+|[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^\n]*\})? \S+)", re.MULTILINE)
# how an exposition line cut short by the window starts: HELP or TYPE, or a metric name and then its first label
# (``name{key="``) or a number
_PROMETHEUS_LINE_START = re.compile(
    rb'(?:# (?:HELP|TYPE) \S|[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="|[ \t][-+0-9.NI]))'
)
_SNIFF_WINDOW = 1 << 16
_GZIP_SNIFF_LIMIT = 4 << 20  # sniff() looks this far into a gzip blob; parse() decompresses it all anyway
# field numbers and wire types of profile.proto's top-level Profile message
_PROFILE_TAGS = frozenset(
    [(n << 3) | 2 for n in (1, 2, 3, 4, 5, 6, 11, 13)] + [(n << 3) | 0 for n in (7, 8, 9, 10, 12, 13, 14, 15)]
)


def sniff(data: bytes, *, max_size: int | None = None) -> Format:
    """Name the format of a blob (gzip is looked through, as far as its first 4 MiB).

    Cheap: the first 64 KiB tell, except that text is searched through for a goroutine header at a line start,
    so a crash log with megabytes of ordinary log lines before its panic is still a goroutine dump.
    """
    if is_gzip(data):
        data = _gunzip_head(data, min(resolve_max_size(max_size)[0], _GZIP_SNIFF_LIMIT))
    head = data[:_SNIFF_WINDOW]
    stripped = head.lstrip()
    if not stripped:
        return Format.UNKNOWN
    if stripped.startswith(b"heap profile:"):
        return Format.HEAP_TEXT
    if _COUNT_HEADER.match(stripped):
        return Format.COUNT_TEXT
    if _looks_textual(head):
        if _GOROUTINE_HEADER.search(head) or _LATER_GOROUTINE_HEADER.search(data):
            return Format.GOROUTINE_DUMP
        if stripped.startswith(b"{") and b'"memstats"' in data:
            return Format.EXPVAR
        if _looks_prometheus(head, cut=len(data) > len(head)):
            return Format.PROMETHEUS
        return Format.UNKNOWN
    if head[0] in _PROFILE_TAGS:
        return Format.PPROF
    return Format.UNKNOWN


def _gunzip_head(data: bytes, limit: int) -> bytes:
    """Up to ``limit`` bytes of the start of gzip data (whatever decompresses before an error)."""
    import zlib

    decompressor = zlib.decompressobj(wbits=31)
    try:
        return decompressor.decompress(data, limit)
    except zlib.error:
        return b""


def _looks_textual(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    sample = head[:4096]
    printable = sum(1 for byte in sample if byte >= 0x20 or byte in (0x09, 0x0A, 0x0D))
    return printable >= 0.95 * len(sample)


def _looks_prometheus(head: bytes, *, cut: bool) -> bool:
    """Whether the lines are exposition lines. ``cut``: ``head`` stops inside the input, so its last line may be
    cut short (a label value longer than the window): that one is judged by how it starts, not by its end."""
    lines = head.split(b"\n")[:51]
    last = lines.pop() if cut and len(lines) <= 50 else b""  # (the 51st line is judged by none of its bytes)
    lines = [line for line in lines[:50] if line.strip()]
    matching = sum(1 for line in lines if _PROMETHEUS_LINE.match(line))
    if last.strip():
        lines.append(last)
        matching += bool(_PROMETHEUS_LINE_START.match(last))
    return bool(lines) and matching >= 0.9 * len(lines)


def parse(data: bytes, *, format: Format | None = None, max_size: int | None = None) -> Parsed:
    """Parse any supported blob. Raises ParseError naming the format it tried, where, and a quote of the input.

    ``format`` skips the guessing; ``max_size`` caps decompression (None: the default cap, see ``compression``).
    """
    compressed = is_gzip(data)
    body = maybe_gunzip(data, max_size)  # once, and all of it: sniffing then sees what the parser will
    detected = format or sniff(body)
    _reject_html(body, detected)
    # each parser imported when its format is seen: a goroutine dump never loads numpy or protobuf
    if detected is Format.PPROF:
        from leaksleuth.formats.pprof import parse_pprof

        return Parsed(detected, profile=parse_pprof(body, max_size=max_size), compressed=compressed)
    if detected is Format.GOROUTINE_DUMP:
        from leaksleuth.formats.goroutine_text import parse_goroutine_dump

        return Parsed(detected, dump=parse_goroutine_dump(body), compressed=compressed)
    if detected in (Format.COUNT_TEXT, Format.HEAP_TEXT):
        from leaksleuth.formats.legacy import parse_count_profile, parse_heap_text

        if detected is Format.COUNT_TEXT:
            return Parsed(detected, profile=parse_count_profile(body), compressed=compressed)
        heap = parse_heap_text(body)
        return Parsed(detected, profile=heap.profile, memstats=heap.memstats, compressed=compressed)
    if detected in (Format.EXPVAR, Format.PROMETHEUS):
        from leaksleuth.formats.memstats import parse_expvar, parse_prometheus_text

        parse_memstats = parse_expvar if detected is Format.EXPVAR else parse_prometheus_text
        return Parsed(detected, memstats=parse_memstats(body), compressed=compressed)
    raise ParseError(
        "unrecognised input: not a pprof profile, goroutine dump, debug=1 profile, expvar JSON or /metrics text",
        offset=0,
        data=body[:60],
        hint="leaksleuth reads what net/http/pprof serves: /debug/pprof/{goroutine,heap,goroutineleak,allocs}"
        "[?debug=1|2], /debug/vars and /metrics",
    )


_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")
# what a format is called in its ParseErrors, and what a page is not when HTML came instead of it
_NAMES = {
    Format.PPROF: ("pprof", "a pprof profile"),
    Format.GOROUTINE_DUMP: ("goroutine dump", "a goroutine dump"),
    Format.COUNT_TEXT: ("debug=1 profile", "a debug=1 profile"),
    Format.HEAP_TEXT: ("heap debug=1", "a heap debug=1 profile"),
    Format.EXPVAR: ("expvar", "expvar JSON"),
    Format.PROMETHEUS: ("prometheus", "Prometheus text exposition"),
}


def _reject_html(data: bytes, detected: Format) -> None:
    """A login page, proxy or error page where a profile, dump or metrics were expected: say so, for every format."""
    head = data[:256]
    if head.lstrip().lower().startswith(_HTML_STARTS):
        format_name, noun = _NAMES.get(detected, (None, "a profile, goroutine dump or metrics"))
        raise ParseError(
            f"not {noun}: got HTML (a login page, proxy or error page?)",
            offset=0,
            data=head[:60],
            format_name=format_name,
        )


__all__ = ["Format", "ParseError", "Parsed", "parse", "profile_kind", "sniff"]
