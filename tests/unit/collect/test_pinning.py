"""DNS pinning (collect/pinning.py): a pinned scrape connects only to the checked addresses, never resolving again."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from leaksleuth.collect import pinning
from leaksleuth.collect.scrape_config import ScrapeConfig
from tests.support.scrape import pprof_target, scrape_one

UNRESOLVABLE = "pinned-target.invalid"  # .invalid never resolves (RFC 6761): only the pin can reach it


def _pinned(host: str, *addresses: str) -> ScrapeConfig:
    return ScrapeConfig(timeout=5, retries=0, pinned={host: addresses})


def test_a_pinned_name_is_reached_without_resolving_it() -> None:
    with pprof_target() as (port, hits):
        url = f"http://{UNRESOLVABLE}:{port}"
        unpinned = scrape_one(ScrapeConfig(timeout=5, retries=0), url)
        assert unpinned.status == "unreachable", "the name must not resolve for this test to mean anything"
        assert not hits
        result = scrape_one(_pinned(UNRESOLVABLE, "127.0.0.1"), url)
        assert result.status == "ok", result.error
        assert result.dump is not None and hits
        # the pin map's names match the URL's whatever their case and a trailing dot
        hits.clear()
        pinned_localhost = scrape_one(_pinned("localhost", "127.0.0.1"), f"http://LocalHost.:{port}")
        assert pinned_localhost.status == "ok" and hits, pinned_localhost.error


def test_the_next_pinned_address_is_tried_when_one_refuses() -> None:
    with pprof_target() as (port, _hits):
        config = _pinned(UNRESOLVABLE, "127.0.0.9", "127.0.0.1")
        assert scrape_one(config, f"http://{UNRESOLVABLE}:{port}").status == "ok"


def test_a_host_without_a_pin_is_refused() -> None:
    with pprof_target() as (port, hits):
        config = _pinned(UNRESOLVABLE, "127.0.0.1")
        for url in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://other.invalid:{port}"):
            result = scrape_one(config, url)
            assert result.status == "unreachable" and "DNS pinning" in (result.error or ""), result.error
        assert not hits


def test_a_redirect_to_another_host_is_refused() -> None:
    with (
        pprof_target() as (other_port, other_hits),
        pprof_target(redirect_to=f"http://127.0.0.1:{other_port}") as (port, hits),
    ):
        # "strip" follows a cross-origin redirect: the pin, not the redirect policy, is what stops it here
        result = scrape_one(_pinned(UNRESOLVABLE, "127.0.0.1"), f"http://{UNRESOLVABLE}:{port}")
        assert result.status != "ok" and "DNS pinning" in (result.error or ""), result.error
        assert hits and not other_hits
        unpinned = scrape_one(ScrapeConfig(timeout=5, retries=0), f"http://127.0.0.1:{port}")
        assert unpinned.status == "ok" and other_hits  # the control: unpinned, the redirect is followed


def test_proxy_environment_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pprof_target() as (port, hits):
        dead = "http://127.0.0.1:9"  # the discard port: nothing listens, a proxied request fails
        monkeypatch.setenv("HTTP_PROXY", dead)
        monkeypatch.setenv("http_proxy", dead)
        unpinned = scrape_one(ScrapeConfig(timeout=5, retries=0), f"http://127.0.0.1:{port}")
        assert unpinned.status != "ok" and not hits  # the control: unpinned, the proxy is used
        result = scrape_one(_pinned("127.0.0.1", "127.0.0.1"), f"http://127.0.0.1:{port}")
        assert result.status == "ok", result.error


def test_the_pool_attribute_pinning_needs_is_there() -> None:
    """An httpx/httpcore upgrade that moves ``_pool._network_backend`` fails here, not unpinned in production."""
    transport = pinning.pinned_transport({"a.test": ("127.0.0.1",)})
    assert isinstance(transport._pool._network_backend, pinning.PinnedBackend)
    asyncio.run(transport.aclose())


def test_a_missing_pool_attribute_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    class Moved(httpx.AsyncHTTPTransport):
        def __init__(self, **options: object) -> None:
            super().__init__(**options)  # type: ignore[arg-type]
            del self._pool

    monkeypatch.setattr(pinning.httpx, "AsyncHTTPTransport", Moved)
    with pytest.raises(RuntimeError, match=r"_pool\._network_backend"):
        pinning.pinned_transport({"a.test": ("127.0.0.1",)})
