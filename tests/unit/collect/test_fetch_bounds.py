"""issue 12 items 6-8 against loopback servers: a redirect to another origin carries none of the user's headers
(X-Api-Key went along), ``inspect URL --timeout`` bounds the whole request (a body dripping a byte a second took
22.5 s at --timeout 3), and the scraper's decompression cap is LEAKSLEUTH_MAX_DECOMPRESSED (it was 8 x max_body)."""

from __future__ import annotations

import contextlib
import gzip
import time
from http.server import BaseHTTPRequestHandler

import pytest

from leaksleuth.collect.load import fetch
from leaksleuth.collect.scrape_config import ScrapeConfig
from leaksleuth.errors import FetchError
from tests.conftest import CAPTURES
from tests.support.hostile import GO_1_26
from tests.support.loopback import serving
from tests.support.scrape import scrape_one


def _handler(seen: list[tuple[str, dict[str, str]]], redirect: str = "", body: bytes = b"") -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            if redirect and not self.path.startswith("/here"):
                self.send_response(302)
                self.send_header("Location", redirect + self.path.replace("/there", ""))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path = self.path.removeprefix("/here").replace("heap?gc=1", "heap")
            data = body or ((CAPTURES / GO_1_26[path]).read_bytes() if path in GO_1_26 else b"")
            self.send_response(200 if data else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def test_a_redirect_to_another_origin_carries_no_user_header() -> None:
    there: list[tuple[str, dict[str, str]]] = []
    here: list[tuple[str, dict[str, str]]] = []
    config = ScrapeConfig(timeout=5, headers={"X-Api-Key": "k-123"}, bearer_token="tok", metrics=False)
    with (
        serving(_handler(there), address="127.0.0.2") as elsewhere,
        serving(_handler(here, redirect=elsewhere)) as origin,
    ):
        result = scrape_one(config, origin)
        assert result.status == "ok", result.error
        with serving(_handler(here, redirect="/here")) as hop:  # a redirect within one origin keeps them
            assert scrape_one(config, hop).status == "ok"
        refused = scrape_one(ScrapeConfig(timeout=5, redirects="same-origin", metrics=False), origin)
    assert there and all("x-api-key" not in headers and "authorization" not in headers for _, headers in there)
    within = [headers for path, headers in here if path.startswith("/here")]
    assert within and all(h["x-api-key"] == "k-123" and h["authorization"] == "Bearer tok" for h in within)
    assert refused.status == "error" and "redirect to another origin" in (refused.error or "")


class _Drip(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_fetch_timeout_bounds_the_whole_request() -> None:
    with serving(_Drip) as url:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"timed out after 1s \(the whole request\)"):
            fetch(url, timeout=1)
        took = time.monotonic() - started
    assert took < 5, took  # was 1000 reads of 0.2 s: 200 s


def test_the_scraper_inflates_no_more_than_the_configured_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = gzip.compress(b"\0" * (4 << 20))  # served without Content-Encoding: the parser inflates it
    monkeypatch.setenv("LEAKSLEUTH_MAX_DECOMPRESSED", "1M")
    with serving(_handler([], body=bomb)) as url:
        result = scrape_one(ScrapeConfig(timeout=5, metrics=False), url)
        capped = scrape_one(ScrapeConfig(timeout=5, metrics=False, max_decompressed=2 << 20), url)
    assert result.status == "error" and "1,048,576" in (result.error or ""), result.error
    assert "2,097,152" in (capped.error or ""), capped.error
