"""An Alertmanager webhook (payload version 4), read as hostile input: every size and count bounded.

Alertmanager sends labels and annotations as flat string maps; anything else (``instance: null``, a nested
annotation 700 deep, a 50 MB description) is refused with one line, before an alert claims a report or is stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from leaksleuth.errors import LeaksleuthError

MAX_BODY = 1 << 20  # bytes of one webhook body (413 past it)
MAX_ALERTS = 1000  # alerts in one webhook (413 past it): Alertmanager's max_alerts can keep groups under it
MAX_LABELS = 64  # labels (or annotations) on one alert
MAX_NAME = 256  # characters of a label or annotation name
MAX_LABEL_VALUE = 1024  # characters of one label value
MAX_ANNOTATION_VALUE = 8192  # characters of one annotation value
MAX_FIELD = 128  # characters of startsAt and fingerprint


class AlertPayloadError(LeaksleuthError):
    """The request body is not an Alertmanager webhook (version 4), or breaks one of its limits (``status``)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Alert:
    """One alert's fields as they are kept: labels and annotations as bounded flat string maps."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    fingerprint: str

    def key(self) -> str:
        """What de-duplicates re-sent alerts: fingerprint (or a digest of the labels) @ startsAt."""
        if self.fingerprint:
            return f"{self.fingerprint}@{self.starts_at}"
        digest = hashlib.sha256(json.dumps(sorted(self.labels.items())).encode()).hexdigest()[:32]
        return f"labels:{digest}@{self.starts_at}"

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": self.starts_at or None,
            "fingerprint": self.fingerprint or None,
        }


@dataclass(slots=True)
class Receipt:
    accepted: list[int] = field(default_factory=list)  # report ids being captured
    duplicates: int = 0
    resolved: int = 0
    rejected: list[str] = field(default_factory=list)  # why an alert could not be mapped to a target
    deferred: int = 0  # alerts the full capture queue could not take: send them again (429)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "resolved_ignored": self.resolved,
            "rejected": self.rejected,
            "deferred": self.deferred,
        }


def parse_body(body: bytes) -> Any:
    """JSON, or AlertPayloadError (400) — also for nesting too deep for the parser (RecursionError)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc).splitlines()[0][:120]
        raise AlertPayloadError(f"body is not JSON ({why})") from None


def parse_webhook(payload: Any, *, max_alerts: int = MAX_ALERTS) -> list[Alert]:
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise AlertPayloadError("not an Alertmanager webhook: no 'alerts' list")
    version = payload.get("version", "4")
    if version not in ("4", 4):
        raise AlertPayloadError(f"unsupported Alertmanager webhook version {str(version)[:20]!r} (expected 4)")
    if len(payload["alerts"]) > max_alerts:
        raise AlertPayloadError(
            f"{len(payload['alerts']):,} alerts in one webhook, more than the {max_alerts:,} accepted "
            "(set max_alerts in Alertmanager's webhook_config)",
            status=413,
        )
    return [_alert(index, alert) for index, alert in enumerate(payload["alerts"])]


def _alert(index: int, alert: Any) -> Alert:
    where = f"alert {index}"
    if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
        raise AlertPayloadError(f"{where}: an alert without labels")
    annotations = alert.get("annotations")
    return Alert(
        status=_text(alert.get("status"), f"{where}: status", MAX_FIELD),
        labels=_strings(alert["labels"], f"{where}: label", MAX_LABEL_VALUE),
        annotations=_strings(annotations or {}, f"{where}: annotation", MAX_ANNOTATION_VALUE),
        starts_at=_text(alert.get("startsAt"), f"{where}: startsAt", MAX_FIELD),
        fingerprint=_text(alert.get("fingerprint"), f"{where}: fingerprint", MAX_FIELD),
    )


def _strings(values: Any, what: str, longest: int) -> dict[str, str]:
    if not isinstance(values, dict):
        raise AlertPayloadError(f"{what}s must map names to strings, got {type(values).__name__}")
    if len(values) > MAX_LABELS:
        raise AlertPayloadError(f"{what}s: {len(values):,}, more than {MAX_LABELS}")
    out = {}
    for name, value in values.items():
        if len(name) > MAX_NAME:
            raise AlertPayloadError(f"{what} name of {len(name):,} characters, more than {MAX_NAME}")
        if not isinstance(value, str):  # null, a number, a nested object: Alertmanager only sends strings
            raise AlertPayloadError(f"{what} {name[:64]!r} is {_kind(value)}, not a string")
        if len(value) > longest:
            raise AlertPayloadError(f"{what} {name[:64]!r} has {len(value):,} characters, more than {longest:,}")
        out[name] = value
    return out


def _text(value: Any, what: str, longest: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AlertPayloadError(f"{what} is {_kind(value)}, not a string")
    if len(value) > longest:
        raise AlertPayloadError(f"{what} has {len(value):,} characters, more than {longest:,}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else f"a JSON {type(value).__name__.replace('dict', 'object')}"
