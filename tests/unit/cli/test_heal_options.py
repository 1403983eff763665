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
