"""A heal decision's JSON line names itself, so it can share stdout with serve's verdict and round events."""

from __future__ import annotations

import json

from leaksleuth.app.heal_records import Decision


def test_a_decision_line_is_a_heal_event_with_every_fact() -> None:
    decision = Decision(1_764_000_000.0, "verdict", "prod", "checkout-0", "quarantine", "dry-run", "would quarantine")
    line = json.loads(json.dumps(decision.to_json()))
    assert line["event"] == "heal"  # serve --json-lines readers dispatch on "event" (verdict, round, heal)
    assert (line["namespace"], line["pod"], line["action"], line["result"]) == (
        "prod",
        "checkout-0",
        "quarantine",
        "dry-run",
    )
    assert line["at"] == "2025-11-24T16:00:00Z"
