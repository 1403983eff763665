"""A loopback HTTP server whose path prefixes misbehave in every way a scrape target can (for watcher tests)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

from tests.loopback import serving

BEHAVIOURS = ("status500", "html", "garbage", "endless", "slow", "drip")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        behaviour = self.path.strip("/").split("/", 1)[0]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the scraper gave up on us, as it should
            getattr(self, f"_{behaviour}", self._missing)()

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _missing(self) -> None:
        self._send(404, b"404 page not found\n")

    def _status500(self) -> None:
        self._send(500, b"internal error: database is on fire\n")

    def _html(self) -> None:
        self._send(200, b"<!doctype html><html><body><h1>Login</h1></body></html>", "text/html")

    def _garbage(self) -> None:
        self._send(200, os.urandom(4096), "application/octet-stream")

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        chunk = b"\x0a" * 65536
        deadline = time.monotonic() + 30  # bounded even if nobody hangs up
        while time.monotonic() < deadline:
            self.wfile.write(chunk)

    def _slow(self) -> None:
        time.sleep(8)
        self._send(200, b"too late\n")

    def _drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.wfile.write(b"g")
            self.wfile.flush()
            time.sleep(0.1)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def hostile_server() -> Iterator[str]:
    """Yields the server's base URL; targets are ``{base}/{behaviour}``."""
    with serving(_Handler) as url:
        yield url
