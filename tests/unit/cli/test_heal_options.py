"""``leaksleuth heal`` refuses bad options before it talks to any cluster (exit 2, one line naming the option)."""

from __future__ import annotations

import pytest

from leaksleuth.cli.main import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "heal needs --k8s"),
        (["--k8s", "--interval", "0s"], "--interval must be longer than zero, got '0s'"),
        (["--k8s", "--journal", "/nonexistent/heal.jsonl"], "cannot write /nonexistent/heal.jsonl"),
        (["--k8s", "--action", "reboot"], "--action must be one of quarantine, evict, rollout-restart, none"),
        (["--k8s", "--rate", "1/fortnight"], "--rate: 'fortnight' is not a period"),
        (["--k8s", "--max-actions", "0/h"], "--max-actions wants N/PERIOD, got '0/h'"),
        (["--k8s", "--heal-on", "0"], "--heal-on must be in (0, 1], got 0.0"),
        (["--k8s", "--keep", "-5m"], "invalid duration '-5m'"),
    ],
)
def test_bad_options(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heal", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--action", "evict"], "--action"),
        (["--dry-run"], "--dry-run"),
        (["--heal-on", "0.8", "--keep", "1m"], "--keep, --heal-on"),
        (["--rate", "2/min", "--max-actions", "5/h", "--breaker", "2/h"], "--rate, --max-actions, --breaker"),
        (["--allow-single", "--opt-in-namespace", "prod"], "--allow-single, --opt-in-namespace"),
        (["--heal-at", "0.9"], "--heal-at"),  # the default value, given: still a policy without --heal
    ],
)
def test_serve_refuses_healing_options_without_heal(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A policy given to serve without --heal would be silently ignored: exit 2 and one line naming it."""
    assert main(["serve", "--no-auth", *args]) == 2
    assert capsys.readouterr().err.splitlines() == [f"leaksleuth: error: {named}: self-healing options need --heal"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--action", "reboot"], "--action must be one of quarantine, evict, rollout-restart, none"),
        (["--rate", "1/fortnight"], "--rate: 'fortnight' is not a period"),
    ],
)
def test_serve_heal_checks_the_policy_at_start(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--no-auth", "--heal", *args]) == 2
    assert message in capsys.readouterr().err
