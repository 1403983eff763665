"""The verdict vocabulary, with no dependencies (a renderer's colours and a timestamp need no report model): the
confidence levels named once, ``Verdict``, ``verdict_of``, and ``iso_z`` timestamps."""

from __future__ import annotations

import datetime as dt
import enum

# The confidence levels, named once: every analysis, renderer and gate reads these.
REPORT_THRESHOLD = 0.2  # weaker suspects are not reported at all
SUSPECT_CONFIDENCE = 0.5  # a suspect: a healthy target has none at or above this
LEAKING_CONFIDENCE = 0.8  # a leak, not a hint: what --fail-on 0.8 gates on in the README's examples


class Verdict(enum.StrEnum):
    """One instance's verdict, the same words in every output (terminal, JSON, HTML, events)."""

    LEAKING = "leaking"
    LIKELY = "likely leak"
    WATCH = "watch"
    HEALTHY = "healthy"

    @classmethod
    def from_confidence(cls, confidence: float) -> Verdict:
        if confidence >= LEAKING_CONFIDENCE:
            return cls.LEAKING
        if confidence >= SUSPECT_CONFIDENCE:
            return cls.LIKELY
        if confidence >= REPORT_THRESHOLD:
            return cls.WATCH
        return cls.HEALTHY


MIN_SNAPSHOTS = 4  # fewer snapshots cannot show growth: "too early", not "healthy"


def verdict_of(status: str, snapshots: int, top: float) -> str:
    """One vocabulary for every output: the scrape status when it failed, else the Verdict of the top confidence,
    or "too early" while there are too few snapshots to see growth."""
    if status != "ok":
        return status
    if top < SUSPECT_CONFIDENCE and snapshots < MIN_SNAPSHOTS:
        return "too early"
    return str(Verdict.from_confidence(top))


def iso_z(moment: dt.datetime | float) -> str:
    """``2024-05-01T12:00:00Z``: UTC to the second, for a datetime or a Unix timestamp."""
    when = dt.datetime.fromtimestamp(moment, dt.UTC) if isinstance(moment, int | float) else moment
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
