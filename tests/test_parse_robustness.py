"""Every parser, fed real captures cut short or mutated, raises ParseError (naming where) or parses: never a bare
exception. The mutations start from real captures so that they get past the header checks into the parsers."""

from __future__ import annotations

import gzip

import pytest

from leaksleuth.errors import ParseError
from leaksleuth.formats import Format, parse, sniff
from leaksleuth.model.profile import SampleTable
from tests.conftest import CAPTURES


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("goroutine profile: total 5\n99999999999999999999999 @ 0x1\n", "99999999999999999999999"),
        ("heap profile: 1: 2 [3: 4] @ heap/1024\n1: 99999999999999999999999 [3: 4] @ 0x1\n", "9999999999999"),
    ],
)
def test_debug1_values_beyond_int64_are_parse_errors(text: str, value: str) -> None:
    with pytest.raises(ParseError, match="beyond the 64-bit range") as caught:
        parse(text.encode())
    assert value in str(caught.value)


def test_sample_values_at_the_int64_limits_are_kept() -> None:
    table = SampleTable.from_rows(2, [([], [(1 << 63) - 1, -(1 << 63)], ())])
    assert table.values.tolist() == [[(1 << 63) - 1, -(1 << 63)]]
    with pytest.raises(ParseError, match="sample 1 has a value beyond"):
        SampleTable.from_rows(1, [([], [1], ()), ([], [1 << 63], ())])


# ---- recognising input ------------------------------------------------------------------------------------------

_LOG = "".join(f"2026/11/27 21:38:29 INFO request id={i:06d} path=/api/v1/items status=200\n" for i in range(2000))


@pytest.mark.parametrize("compress", [False, True])
def test_a_crash_log_with_a_long_log_before_the_panic_is_a_dump(compress: bool) -> None:
    crash = (CAPTURES / "panicker.panic.txt").read_text()
    data = (_LOG + crash).encode()
    assert len(_LOG) > 128 << 10
    data = gzip.compress(data) if compress else data
    assert sniff(data) is Format.GOROUTINE_DUMP
    parsed = parse(data)
    assert parsed.dump is not None and len(parsed.dump.goroutines) == 9 and not parsed.dump.truncated
    assert parsed.dump.panic_message is not None and parsed.compressed == compress


def test_a_log_without_a_dump_is_still_unrecognised() -> None:
    with pytest.raises(ParseError, match="unrecognised input"):
        parse((_LOG + "goroutine 5 is not a header\n  goroutine 6 [chan send]: is indented\n").encode())
