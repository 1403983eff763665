"""Every parser, fed real captures cut short or mutated, raises ParseError (naming where) or parses: never a bare
exception. The mutations start from real captures so that they get past the header checks into the parsers."""

from __future__ import annotations

import pytest

from leaksleuth.errors import ParseError
from leaksleuth.formats import parse
from leaksleuth.model.profile import SampleTable


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
