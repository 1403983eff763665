"""Reports in the store: a claim per alert (de-duplicated by its key), the document once captured, and a summary
beside it that list views read instead of whole documents."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from leaksleuth.store.schema import report_summaries_table, reports_table


@dataclass(frozen=True, slots=True)
class ReportRow:
    id: int
    created_at: float
    source: str
    source_key: str | None
    target: str
    max_confidence: float
    document: dict[str, Any]


class ReportTables:
    """Mixed into ``Store`` (its engine and lock)."""

    engine: Engine
    _lock: threading.Lock

    def claim_report(self, source: str, source_key: str, target: str, owner: str | None = None) -> int | None:
        """Reserve a report for ``source_key`` (e.g. an alert's fingerprint@startsAt); None if already claimed.
        ``owner`` (host:pid) is kept in the claim, so a restarted server can tell its own orphaned claims."""
        with self._lock, self.engine.begin() as connection:
            exists = connection.execute(
                sa.select(reports_table.c.id).where(reports_table.c.source_key == source_key)
            ).first()
            if exists is not None:
                return None
            result = connection.execute(
                reports_table.insert().values(
                    created_at=time.time(),
                    source=source,
                    source_key=source_key,
                    target=target,
                    max_confidence=0.0,
                    document=json.dumps({"status": "capturing", **({"owner": owner} if owner else {})}),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def save_report(
        self,
        report_id: int,
        document: dict[str, Any],
        max_confidence: float,
        *,
        target: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """``summary``: the few fields list views read (``report_summaries``), kept beside the document."""
        values: dict[str, Any] = {"document": json.dumps(document), "max_confidence": max_confidence}
        if target is not None:
            values["target"] = target  # a target resolved while capturing (a pod's address)
        with self._lock, self.engine.begin() as connection:
            connection.execute(reports_table.update().where(reports_table.c.id == report_id).values(**values))
            connection.execute(report_summaries_table.delete().where(report_summaries_table.c.report_id == report_id))
            if summary is not None:
                connection.execute(
                    report_summaries_table.insert().values(report_id=report_id, summary=json.dumps(summary))
                )

    def report_summaries(self, *, limit: int = 100) -> list[ReportRow]:
        """The newest reports like ``reports()``, each with its summary as ``document`` (the whole document only
        for a report saved without one: a claim still capturing, an older store's)."""
        summaries = report_summaries_table
        columns = [c for c in reports_table.c if c.name != "document"]
        whole = sa.case((summaries.c.summary.is_(None), reports_table.c.document), else_=None)
        query = (
            sa.select(*columns, summaries.c.summary, whole.label("document"))
            .select_from(reports_table.outerjoin(summaries, summaries.c.report_id == reports_table.c.id))
            .order_by(reports_table.c.id.desc())
            .limit(limit)
        )
        return self._reports(query)

    def capturing_reports(self, source: str) -> list[tuple[int, float, str | None]]:
        """Claims of ``source`` still capturing: (id, created_at, owner)."""
        query = sa.select(reports_table.c.id, reports_table.c.created_at, reports_table.c.document).where(
            reports_table.c.source == source, reports_table.c.document.like('{"status": "capturing"%')
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(row.id, row.created_at, json.loads(row.document).get("owner")) for row in rows]

    def release_reports(self, report_ids: Iterable[int], error: str) -> None:
        """Fail claims that will never finish and free their keys: the alert, sent again, is captured."""
        ids = list(report_ids)
        if not ids:
            return
        document = json.dumps({"schema": "leaksleuth/report@1", "targets": [], "error": error})
        with self._lock, self.engine.begin() as connection:
            connection.execute(
                reports_table.update()
                .where(reports_table.c.id.in_(ids))
                .values(document=document, source_key=None, max_confidence=0.0)
            )

    def reports(self, *, limit: int = 100, source: str | None = None) -> list[ReportRow]:
        """The newest reports, of one ``source`` ("alert", "heal", …) if given."""
        query = sa.select(reports_table).order_by(reports_table.c.id.desc()).limit(limit)
        return self._reports(query if source is None else query.where(reports_table.c.source == source))

    def report(self, report_id: int) -> ReportRow | None:
        found = self._reports(sa.select(reports_table).where(reports_table.c.id == report_id))
        return found[0] if found else None

    def _reports(self, query: Any) -> list[ReportRow]:
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            ReportRow(
                r.id,
                r.created_at,
                r.source,
                r.source_key,
                r.target,
                r.max_confidence,
                json.loads(r._mapping.get("summary") or r.document),  # report_summaries: the summary, if any
            )
            for r in rows
        ]
