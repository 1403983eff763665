"""Loopback HTTP servers for watcher tests: one whose path prefixes misbehave in every way a scrape target can, one
serving real captures as many Go services (some slow, flaky or old), and a black hole that never answers."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

from tests.conftest import CAPTURES
from tests.support.loopback import serving

BEHAVIOURS = ("status500", "markup500", "html", "garbage", "endless", "slow", "drip")
MARKUP_BODY = "upstream said [/oops] and [bold]"  # rich markup in an error body must stay text, not crash the table


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

    def _markup500(self) -> None:
        self._send(500, MARKUP_BODY.encode())

    def _html(self) -> None:
        self._send(200, b"<!doctype html><html><body><h1>Login</h1></body></html>", "text/html")

    def _garbage(self) -> None:
        self._send(200, random.Random(4096).randbytes(4096), "application/octet-stream")  # the same bytes each run

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


GO_1_26 = {  # a current Go service: pprof with the goroutineleak profile, /metrics
    "/debug/pprof/goroutine": "parked.goroutine.pb.gz",
    "/debug/pprof/goroutineleak?debug=2": "parked.goroutineleak.debug2.txt",
    "/debug/pprof/heap": "heapkinds.heap.pb.gz",
    "/metrics": "parked.metrics.txt",
}
OLD_GO = {  # Go < 1.26: no goroutineleak profile; expvar mounted but no /metrics
    "/debug/pprof/goroutine": "parked.goroutine.pb.gz",
    "/debug/pprof/goroutine?debug=2": "parked.goroutine.debug2.txt",
    "/debug/pprof/heap": "heapkinds.heap.pb.gz",
    "/debug/vars": "parked.vars.json",
}
PPROF_ONLY = {key: value for key, value in GO_1_26.items() if key != "/metrics"}  # net/http/pprof and nothing else


class Fleet:
    """What the server saw: every request as (time, target, path), and the most requests in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[float, str, str]] = []
        self.raw: list[tuple[str, str]] = []  # (target, path with its query)
        self.in_flight = 0
        self.max_in_flight = 0

    def paths(self, target: str) -> list[str]:
        with self.lock:
            return [path for _, name, path in self.requests if name == target]

    def queries(self, target: str) -> list[str]:
        with self.lock:
            return [path for name, path in self.raw if name == target]


def _handler(fleet: Fleet) -> type[BaseHTTPRequestHandler]:
    """Targets are ``/{name}``: ``go126-…``, ``oldgo-…``, ``pprofonly-…``; ``flaky-…`` answers its first two
    goroutine requests with 503; ``busy503-…`` always does; ``slow-…`` takes 0.3 s per request."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        _counted = False

        def do_GET(self) -> None:
            name, _, rest = self.path[1:].partition("/")
            path = "/" + rest.replace("heap?gc=1", "heap")
            with fleet.lock:
                fleet.requests.append((time.monotonic(), name, path))
                fleet.raw.append((name, "/" + rest))  # with the query the paths above drop (heap?gc=1)
                fleet.in_flight += 1
                fleet.max_in_flight = max(fleet.max_in_flight, fleet.in_flight)
                earlier = sum(1 for _, n, p in fleet.requests if n == name and p == path)
            self._counted = True
            try:
                self._answer(name, path, earlier)
            finally:
                self._answered()

        def _answered(self) -> None:
            """The request stops counting as in flight when its answer is about to be written: once the client has
            read it, it may send the next one, before this thread has even returned from writing."""
            if self._counted:
                self._counted = False
                with fleet.lock:
                    fleet.in_flight -= 1

        def _answer(self, name: str, path: str, count: int) -> None:
            kind = name.split("-", 1)[0]
            if kind == "slow":
                time.sleep(0.3)
            if kind == "busy503" or (kind == "flaky" and path == "/debug/pprof/goroutine" and count <= 2):
                self._send(503, b"overloaded, try later\n")
                return
            files = {"oldgo": OLD_GO, "pprofonly": PPROF_ONLY}.get(kind, GO_1_26)
            file = files.get(path)
            if file is None:
                self._send(404, b"404 page not found\n")
                return
            self._send(200, (CAPTURES / file).read_bytes())

        def _send(self, status: int, body: bytes) -> None:
            self._answered()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def fleet_server() -> Iterator[tuple[str, Fleet]]:
    fleet = Fleet()
    with serving(_handler(fleet)) as url:
        yield url, fleet


@contextlib.contextmanager
def black_hole(*, accept: bool) -> Iterator[str]:
    """A target that takes connections and never answers: the kernel completes them from the listen backlog
    (``accept=False``), or it accepts and then sits on them (``accept=True``)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=hold, daemon=True)
    if accept:
        thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        if accept:
            thread.join(timeout=2)
        for connection in held:
            connection.close()
        listener.close()
