"""Dashboard pieces that need no browser: where a login may send you, sparklines from numbers only."""

from __future__ import annotations

import pytest

from leaksleuth.web.dashboard import _local
from leaksleuth.web.render import render, sparkline


@pytest.mark.parametrize(
    ("asked", "sent"),
    [
        ("/instance/3", "/instance/3"),
        ("/?q=checkout&sort=heap", "/?q=checkout&sort=heap"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("instance/3", "/"),
    ],
)
def test_login_sends_you_to_this_server_only(asked: str, sent: str) -> None:
    assert _local(asked) == sent


def test_sparkline_is_numbers_only_and_skips_gaps() -> None:
    svg = str(sparkline([1.0, float("nan"), 3.0, 2.0]))
    assert svg.startswith('<svg class="spark"') and svg.count(",") == 3  # three points, the NaN skipped
    assert str(sparkline([5.0])) == ""  # one point draws no line


def test_login_page_escapes_where_it_goes_next() -> None:
    page = render("login.html", page="login", next='/"><script>x</script>', error="", signed_in_by_cookie=False)
    assert "<script>x" not in page and "&#34;&gt;&lt;script&gt;" in page
