"""What every family's suspect evidence shares (``model/evidence.py`` has the families): the evidence kinds used
and their weights, the advice, and what attribution (``Explains``, ``Explained``) and the source explanation
(``SourceNote``) add after analysis; ``read_fields`` reads a stored document's members back, each as its field's
type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from leaksleuth.model.views import fields_json

# the members every family may gain after analysis (attribution, the source explanation), by their JSON names
ADDED = ("used", "weights", "advice", "explains", "explained", "source", "marks")
MARK_KEYS = ("discount", "root_cause_of")  # the JSON names of ``marks``


def read_fields(cls: Any, document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document's members for the plain fields of ``cls`` (not the shared ones), each of its field's type
    (a number stays the int or float it was written as)."""
    read: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in ADDED or f.name not in document:
            continue
        factory = f.default_factory
        default = f.default if f.default is not MISSING else factory() if callable(factory) else None
        read[f.name] = _like(default, document[f.name])
    return read


def _like(default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int | float):
        return value if isinstance(value, int | float) and not isinstance(value, bool) else type(default)(value)
    if isinstance(default, str):
        return str(value)
    if isinstance(default, list):
        return list(value) if isinstance(value, list | tuple) else []
    return value


@dataclass(slots=True)
class Explains:
    """A series finding this site accounts for ``share`` of (attribution)."""

    share: float = 0.0
    of: str = ""  # "heap growth", "goroutine growth", "RSS growth"
    metric: str = ""
    category: str = ""
    confidence: float = 0.0
    summary: str = ""

    def to_json(self) -> dict[str, Any]:
        return fields_json(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Explains:
        return cls(**read_fields(cls, document))


@dataclass(slots=True)
class Explained:
    """How much of a site-less finding the located suspects explain (too little: it stands on its own)."""

    share: float = 0.0
    heap_sites: int = 0
    buckets: int = 0

    def to_json(self) -> dict[str, Any]:
        return fields_json(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Explained:
        return cls(**read_fields(cls, document))


@dataclass(slots=True)
class SourceNote:
    """What the source says about the suspect's line: the lint finding that explains it (``slug`` set), and/or why
    a send there cannot block for ever (``bounded``)."""

    slug: str = ""
    why: str = ""
    fix: str = ""
    line: int = 0
    lines: tuple[int, ...] = ()
    related: tuple[tuple[int, str], ...] = ()  # (line, note)
    bounded: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        if self.slug:
            document.update(
                slug=self.slug,
                why=self.why,
                fix=self.fix,
                line=self.line,
                lines=list(self.lines),
                related=[{"line": line, "note": note} for line, note in self.related],
            )
        if self.bounded is not None:
            document["bounded"] = self.bounded
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> SourceNote:
        return cls(
            str(document.get("slug") or ""),
            str(document.get("why") or ""),
            str(document.get("fix") or ""),
            int(document.get("line") or 0),
            tuple(int(line) for line in document.get("lines") or ()),
            tuple((int(r.get("line") or 0), str(r.get("note") or "")) for r in document.get("related") or ()),
            None if document.get("bounded") is None else str(document["bounded"]),
        )


@dataclass(slots=True, kw_only=True)
class SuspectEvidence:
    """What every family shares: the evidence kinds used and their weights, the advice, and what attribution and
    the source explanation add. Subclasses write their own members first (``_own_json``)."""

    used: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    advice: str = ""
    explains: list[Explains] = field(default_factory=list)  # attribution: series findings this site accounts for
    explained: Explained | None = None  # attribution: a site-less finding too little of is explained
    source: SourceNote | None = None  # the source explanation of the line
    # what the cluster analysis adds (analysis/series/knockon.py: "root_cause_of", "discount"), written last
    marks: dict[str, Any] = field(default_factory=dict)

    # which of the shared members the family writes among its own (always present); the others appear when set
    OWN: ClassVar[tuple[str, ...]] = ()

    def _own_json(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        """The report@1 ``evidence`` object: the family's members, then what was added, in the order it was added
        (attribution runs before the source explanation; the explanation writes ``source``, then ``advice``, then
        ``used`` and ``weights``)."""
        document = self._own_json()
        own = self.OWN
        if self.explains:
            document["explains"] = [e.to_json() for e in self.explains]
        used_now = "used" not in own and bool(self.used) and bool(self.explains)  # attribution added it
        if used_now:
            document["used"] = list(self.used)
        if self.explained is not None:
            document["explained"] = self.explained.to_json()
        if self.source is not None:
            document["source"] = self.source.to_json()
        if "advice" not in own and self.advice:
            document["advice"] = self.advice
        if "used" not in own and self.used and not used_now:
            document["used"] = list(self.used)
        if "weights" not in own and self.weights:
            document["weights"] = dict(self.weights)
        document.update(self.marks)
        return document

    def _added_from_json(self, document: Mapping[str, Any]) -> None:
        self.used = [str(kind) for kind in document.get("used") or ()]
        self.weights = {str(k): float(v) for k, v in (document.get("weights") or {}).items()}
        self.advice = str(document.get("advice") or "")
        self.explains = [Explains.from_json(e) for e in document.get("explains") or ()]
        explained, source = document.get("explained"), document.get("source")
        self.explained = Explained.from_json(explained) if isinstance(explained, Mapping) else None
        self.source = SourceNote.from_json(source) if isinstance(source, Mapping) else None
        self.marks = {key: document[key] for key in MARK_KEYS if key in document}

    @property
    def size(self) -> float:
        """How big the leak is in the family's unit (goroutines, bytes grown): ranks suspects of equal confidence."""
        return 0.0

    def rows(self) -> list[tuple[str, Any]]:
        """(member, value) in the report's order: what a generic evidence listing (the dashboard) shows."""
        return list(self.to_json().items())


@dataclass(slots=True, kw_only=True)
class NoEvidence(SuspectEvidence):
    """Nothing of its own (a suspect built by hand, or a stored one of a shape this version does not know)."""
