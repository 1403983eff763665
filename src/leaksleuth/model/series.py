"""The metric-series family's report members: what ``fleet`` carries beside its suspects (``SeriesFacts`` and its
``SeriesWindow``: view-models, see ``model.views``) and a series suspect's evidence (``SeriesEvidence``, its
``Signal``s: see ``model.evidence``). Their own module: the goroutine commands never import them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from leaksleuth.model.evidence_base import SuspectEvidence
from leaksleuth.model.views import fields_json


@dataclass(frozen=True, slots=True)
class SeriesWindow:
    start: float = 0.0
    end: float = 0.0

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, float]:
        return {"start": self.start, "end": self.end, "seconds": self.seconds}


@dataclass(frozen=True, slots=True)
class SeriesFacts:
    group: str
    labels: Mapping[str, str]
    verdict: str  # Verdict.from_confidence of the top suspect
    restarts: int
    window: SeriesWindow
    latest: Mapping[str, float] = field(default_factory=dict)  # the latest level per series name

    def to_json(self) -> dict[str, Any]:
        return fields_json(self)


@dataclass(slots=True)
class Signal:
    """One series detector's finding inside a series suspect: what it saw, and its detector-specific detail
    (``metric``, ``unit``, ``growth``, ``discount``, ``steps``, … as its JSON members)."""

    category: str
    weight: float
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return str(self.detail.get("metric") or "")

    @property
    def growth(self) -> float | None:
        """How much the metric grew, when the detector measured it."""
        grown = self.detail.get("growth")
        return None if grown is None else float(grown)

    @property
    def discount(self) -> str | None:
        """Why the detector's weight was lowered (it flattened, it follows the load, …), if it was."""
        why = self.detail.get("discount")
        return None if why is None else str(why)

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "weight": self.weight, "summary": self.summary, **self.detail}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Signal:
        detail = {k: v for k, v in document.items() if k not in ("category", "weight", "summary")}
        return cls(
            str(document.get("category") or ""),
            float(document.get("weight") or 0),
            str(document.get("summary") or ""),
            detail,
        )


@dataclass(slots=True, kw_only=True)
class SeriesEvidence(SuspectEvidence):
    signals: list[Signal] = field(default_factory=list)

    OWN: ClassVar[tuple[str, ...]] = ("used", "advice")

    def _own_json(self) -> dict[str, Any]:
        return {"signals": [s.to_json() for s in self.signals], "used": list(self.used), "advice": self.advice}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> SeriesEvidence:
        evidence = cls(signals=[Signal.from_json(s) for s in document.get("signals") or ()])
        evidence._added_from_json(document)
        return evidence
