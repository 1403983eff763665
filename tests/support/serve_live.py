"""Running ``leaksleuth serve`` for live tests: a free loopback port and the token the tests sign in with."""

from __future__ import annotations

import socket

TOKEN = "s3cret-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
