"""Connect only to the addresses a host was checked at (``serve``'s DNS pinning), whatever DNS answers later.

``serve`` checks a target's addresses against ``--allow-cidr`` before a capture; if httpx resolved the name again, a
DNS answer that changed in between (rebinding) would reach a refused address. A pinned client's TCP connect goes to
the checked addresses only, and a host with no pin (a redirect elsewhere) is refused; TLS still uses the URL's name
(httpcore passes the origin's host as SNI and checks the certificate against it, whatever address the socket has).
No proxy is used: a proxy would resolve the name itself. Imported only by a pinned client (httpcore is loaded with
httpx, when the first client is made).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpcore
import httpx


def pin_key(host: str) -> str:
    """How a host is looked up in a pin map: lower case, no trailing dot, no IPv6 brackets."""
    return host.strip("[]").lower().rstrip(".")


def pinned_transport(pinned: Mapping[str, tuple[str, ...]], **options: Any) -> httpx.AsyncHTTPTransport:
    """An httpx transport (``options`` as for ``AsyncHTTPTransport``, never a proxy nor the environment's) whose
    connections go to ``pinned[host]`` only. RuntimeError if the installed httpx/httpcore no longer has the pool
    attribute this relies on: failing loudly beats connecting unpinned."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, **options)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        raise RuntimeError(
            "DNS pinning needs httpx's AsyncHTTPTransport._pool._network_backend (httpcore's connection pool), "
            f"which httpx {httpx.__version__} does not have: leaksleuth must be updated for this httpx/httpcore"
        )
    pool._network_backend = PinnedBackend(backend, pinned)  # type: ignore[union-attr]
    return transport


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with ``connect_tcp`` mapped from a host to its pinned addresses."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, pinned: Mapping[str, tuple[str, ...]]) -> None:
        self._inner = inner
        self._pinned = {pin_key(host): tuple(addresses) for host, addresses in pinned.items()}

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._pinned.get(pin_key(host))
        if not addresses:
            raise httpcore.ConnectError(f"{host}: not an address checked for this capture, refused (DNS pinning)")
        failed: Exception | None = None
        for address in addresses:  # bounded: the addresses the check returned
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"unix socket {path}: refused (DNS pinning allows the checked addresses only)")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
