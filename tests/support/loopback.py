"""A threaded HTTP(S) server on a free loopback port for tests that need a hand-written peer."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler],
    *,
    tls: ssl.SSLContext | None = None,
    address: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Yields the server's base URL (``http://127.0.0.1:PORT``, https with ``tls``; another loopback ``address``
    such as 127.0.0.2 plays another host, on the same ``port`` as the first for a name that moved); always shut
    down."""
    server = ThreadingHTTPServer((address, port), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://{address}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
