"""The pure parts of self-healing: rates, sliding windows, budgets, quantities (no clock, no network)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from leaksleuth.app.heal_guards import SlidingWindow, opted_in, parse_rate, required_ready
from leaksleuth.errors import ConfigError, FetchError
from leaksleuth.integrations.kubernetes import Workload, parse_quantity, scaled, selects


def test_rates() -> None:
    assert parse_rate("1/min") == (1, 60.0)
    assert parse_rate("3/h") == (3, 3600.0)
    assert parse_rate("2/10m") == (2, 600.0)
    for bad in ("1", "0/min", "x/min", "1/fortnight", "1/-5s"):
        with pytest.raises(ConfigError, match="--rate"):
            parse_rate(bad)


def test_sliding_window_allows_again_when_the_oldest_event_leaves_it() -> None:
    window = SlidingWindow((2, 60.0))
    assert window.next_allowed("web", 0.0) is None
    window.record("web", 0.0)
    window.record("web", 10.0)
    assert window.next_allowed("web", 59.0) == 60.0
    assert window.next_allowed("api", 59.0) is None  # per key
    assert window.next_allowed("web", 60.0) is None


def _selector(**labels: str) -> SimpleNamespace:
    return SimpleNamespace(match_labels=labels, match_expressions=None)


def _pdb(name: str, *, min_available: object = None, max_unavailable: object = None, app: str = "web") -> object:
    spec = SimpleNamespace(selector=_selector(app=app), min_available=min_available, max_unavailable=max_unavailable)
    return SimpleNamespace(metadata=SimpleNamespace(name=name), spec=spec)


def test_the_budget_a_pod_disruption_budget_or_the_controller_sets() -> None:
    web = Workload("Deployment", "web", "prod", 4, {"app": "web"}, 1)
    labels = {"app": "web"}
    assert required_ready(web, labels, []) == (3, "Deployment maxUnavailable 1, at least 1")
    assert (
        required_ready(web, labels, [_pdb("other", min_available=1, app="api"), _pdb("p", min_available="50%")])[0] == 2
    )
    assert required_ready(web, labels, [_pdb("p", min_available="60%")])[0] == 3  # 2.4 rounds up
    assert required_ready(web, labels, [_pdb("p", max_unavailable="30%")])[0] == 2  # 1.2 unavailable rounds up
    three = Workload("Deployment", "web", "prod", 3, {"app": "web"}, 0)  # 25% of 3 rounds down to 0
    assert required_ready(three, labels, [])[0] == 2
    assert scaled("25%", 3, round_up=False) == 0 and scaled(2, 3, round_up=True) == 2


def test_opt_in() -> None:
    assert opted_in({"leaksleuth.io/heal": "true"}, "prod", ()) is None
    assert opted_in({}, "prod", ["prod"]) is None
    assert (
        opted_in({"leaksleuth.io/heal": "false"}, "prod", ["prod"])
        == 'opted out: annotation leaksleuth.io/heal: "false"'
    )
    assert (opted_in({}, "prod", ()) or "").startswith("not opted in")


def test_quantities_and_selectors() -> None:
    assert parse_quantity("64Mi") == 64 * 2**20
    assert parse_quantity("1G") == 1e9
    assert parse_quantity("1.5Gi") == 1.5 * 2**30
    assert parse_quantity("1000") == 1000
    with pytest.raises(FetchError, match="not a Kubernetes quantity: '64 MB'"):
        parse_quantity("64 MB")
    expression = SimpleNamespace(key="tier", operator="In", values=["a", "b"])
    selector = SimpleNamespace(match_labels={"app": "web"}, match_expressions=[expression])
    assert selects(selector, {"app": "web", "tier": "a"})
    assert not selects(selector, {"app": "web", "tier": "c"})
    assert not selects(selector, {"app": "api", "tier": "a"})
    assert not selects(None, {"app": "web"})
