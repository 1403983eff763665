"""issue 12 item 1: an alert's labels fill the target template; nothing in them may steer the URL elsewhere, and the
allow-lists decide which hosts and ports serve fetches at all."""

from __future__ import annotations

import asyncio

import pytest

from leaksleuth.app.targeting import TargetPolicy, TargetRefused, target_url
from leaksleuth.errors import ConfigError

TEMPLATE = "http://{instance_host}:6060"


@pytest.mark.parametrize(
    "instance",
    [
        "127.0.0.2:18081/secret?",  # '?' swallows ':6060'; '/' adds a path
        "127.0.0.2:18081/redir#",
        "user:pw@127.0.0.2:18081",  # Basic auth
        "10.0.0.7 :8080",
        "10.0.0.7\t:8080",
        "10.0.0.7\x00:8080",
        "10.0.0.7\u200b:8080",  # invisible
        "evil.example\\@10.0.0.7:8080",
        "10.0.0.7%2f:8080",
    ],
)
def test_label_values_with_url_syntax_are_refused(instance: str) -> None:
    with pytest.raises(ConfigError, match=r"label instance=.* is not allowed in a label that fills the target URL"):
        target_url(TEMPLATE, {"instance": instance})


def test_only_labels_that_fill_the_url_are_checked() -> None:
    labels = {"instance": "10.0.0.7:8080", "alertname": "Goroutine leak / api", "summary": "a b?"}
    assert target_url(TEMPLATE, labels) == "http://10.0.0.7:6060"
    with pytest.raises(ConfigError, match="label job="):
        target_url("http://{instance_host}:6060/{job}", {**labels, "job": "a/../../admin"})
    with pytest.raises(ConfigError, match="label pod="):
        target_url("kubernetes", {"namespace": "prod", "pod": "x/../../secrets"})


def test_the_filled_url_is_parsed_again() -> None:
    # no URL syntax in any value, yet the port is no longer a number: refused, not fetched
    with pytest.raises(ConfigError, match="not a URL"):
        target_url(TEMPLATE, {"instance": "10.0.0.7:1:2"})
    with pytest.raises(ConfigError, match="not a URL"):
        target_url("http://{instance}", {"instance": "10.0.0.7:99999"})
    assert target_url("http://{instance}", {"instance": "[::1]:9090"}) == "http://[::1]:9090"


def _check(policy: TargetPolicy, url: str) -> tuple[str, ...]:
    return asyncio.run(policy.check(url))


def test_the_default_policy_allows_private_ranges_and_loopback_only() -> None:
    policy = TargetPolicy.from_options()
    for url in ("http://10.1.2.3:6060", "http://192.168.0.9:1", "http://127.0.0.2:6060", "http://[::1]:6060"):
        _check(policy, url)
    for url in ("http://169.254.169.254:80", "http://8.8.8.8:6060", "http://[::ffff:169.254.169.254]:80"):
        with pytest.raises(TargetRefused, match="not in --allow-cidr"):
            _check(policy, url)
    # a name: every address it resolves to is checked, and returned for the capture to connect to
    assert "127.0.0.1" in _check(policy, "http://localhost:6060")
    assert _check(policy, "http://[::ffff:127.0.0.3]:6060") == ("127.0.0.3",)


def test_allow_host_port_and_cidr() -> None:
    policy = TargetPolicy.from_options(["127.0.0.2/32"], ["*.internal.test"], [6060])
    _check(policy, "http://127.0.0.2:6060")
    assert _check(policy, "http://api.internal.test:6060") == ()  # allowed by name: not resolved, not pinned
    with pytest.raises(TargetRefused, match="port 6061 is not in --allow-port"):
        _check(policy, "http://127.0.0.2:6061")
    with pytest.raises(TargetRefused, match=r"127\.0\.0\.1, not in --allow-cidr"):
        _check(policy, "http://127.0.0.1:6060")
    with pytest.raises(ConfigError, match="--allow-cidr 'nope'"):
        TargetPolicy.from_options(["nope"])
