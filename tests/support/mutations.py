"""Hypothesis strategies that damage real captures: byte flips, deletions, insertions of tokens the parsers
care about, numbers swapped for extreme ones, lines dropped or doubled, splices of the capture into itself,
truncation. Random text almost never gets past a format's header; a damaged capture gets into the parser's
inner states."""

from __future__ import annotations

import gzip
import re

from hypothesis import strategies as st

from tests.conftest import CAPTURES

# what parsers split on, count with, or choke on: separators, huge and negative numbers, brackets, quotes
TOKENS = [
    b"9" * 25,
    b"1" + b"0" * 400,
    b"-1",
    b"0",
    b"\n",
    b"\n\n",
    b"\r\n",
    b"\t",
    b" ",
    b"\x00",
    b"\xff\xfe",
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b"\\",
    b":",
    b"@",
    b"#",
    b"0x",
    b"+0x",
    b"...",
    b"(",
    b")",
    b"NaN",
    b"goroutine 1 [",
    b"created by ",
    b"[originating from goroutine 1]:\n",
]


# what a number in a capture is swapped for: beyond int64/uint64/float, negative, zero, not a number
NUMBERS = [b"9" * 25, b"1" + b"0" * 400, b"9223372036854775808", b"18446744073709551616", b"-1", b"0", b"1e400", b"NaN"]
_NUMBER = re.compile(rb"[0-9]+")


def seed(file: str, limit: int = 24 << 10) -> bytes:
    """A capture, decompressed; a big one keeps its start and end (headers and trailers) within ``limit``."""
    data = (CAPTURES / file).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) > limit:
        data = data[: limit * 2 // 3] + data[-(limit // 3) :]
    return data


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to four random damages."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("number", "number", "line", "flip", "delete", "insert", "splice", "truncate")))
        at = draw(st.integers(0, len(out)))
        if kind == "number":
            numbers = list(_NUMBER.finditer(out))
            if numbers:
                number = numbers[draw(st.integers(0, len(numbers) - 1))]
                out[number.start() : number.end()] = draw(st.sampled_from(NUMBERS))
        elif kind == "line":
            start = out.rfind(b"\n", 0, at) + 1
            end = out.find(b"\n", at) + 1 or len(out)
            out[start:end] = out[start:end] * draw(st.integers(0, 2))  # dropped, kept or doubled
        elif kind == "flip" and out:
            out[min(at, len(out) - 1)] ^= draw(st.integers(1, 255))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            out[at:at] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8)))
        elif kind == "splice":
            start = draw(st.integers(0, len(data)))
            out[at:at] = data[start : start + draw(st.integers(1, 256))]
        else:
            del out[at:]
    return bytes(out)


@st.composite
def damaged_capture(draw: st.DrawFn, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """(capture name, its damaged bytes) for one of ``seeds``."""
    name = draw(st.sampled_from(sorted(seeds)))
    return name, draw(damaged(seeds[name]))
