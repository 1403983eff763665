"""What replicas of ``serve --watch --scale-out`` share through the store: membership (a heartbeat row each, with a
lease) and the latest verdict of every target, so any replica's pages show the whole fleet."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from leaksleuth.store.schema import members_table, targets_table, verdicts_table


@dataclass(frozen=True, slots=True)
class VerdictRow:
    url: str
    member: str
    updated_at: float
    verdict: str
    confidence: float
    document: dict[str, Any]  # a report@1 target


class ReplicaTables:
    """Mixed into ``Store`` (its engine, lock and target ids)."""

    engine: Engine
    _lock: threading.Lock

    def target_id(self, url: str, service: str = "", labels: dict[str, str] | None = None) -> int:
        raise NotImplementedError

    def heartbeat(self, member: str, now: float, lease_until: float, started_at: float) -> list[str]:
        """Renew ``member``'s lease and return every member whose lease has not run out at ``now`` (sorted).

        Replicas compare leases written by each other's clocks: keep them in sync (NTP) to well under a lease."""
        values = {"heartbeat_at": now, "lease_until": lease_until}
        with self._lock, self.engine.begin() as connection:
            renewed = connection.execute(
                members_table.update().where(members_table.c.member == member).values(**values)
            ).rowcount
            if not renewed:
                connection.execute(members_table.insert().values(member=member, started_at=started_at, **values))
            connection.execute(members_table.delete().where(members_table.c.lease_until < now - 3600))  # long gone
            alive = connection.execute(
                sa.select(members_table.c.member).where(members_table.c.lease_until >= now).order_by("member")
            ).scalars()
            return [str(name) for name in alive]

    def leave(self, member: str) -> None:
        """A replica stopping: its targets go to the others at their next heartbeat, not after its lease."""
        with self._lock, self.engine.begin() as connection:
            connection.execute(members_table.delete().where(members_table.c.member == member))

    def record_verdicts(
        self, member: str, now: float, verdicts: Sequence[tuple[str, str, float, dict[str, Any]]]
    ) -> None:
        """Each (url, verdict word, confidence, report@1 target document) as its target's latest verdict."""
        rows = [
            {
                "target_id": self.target_id(url),
                "member": member,
                "updated_at": now,
                "verdict": word,
                "confidence": confidence,
                "document": json.dumps(document),
            }
            for url, word, confidence, document in verdicts
        ]
        if not rows:
            return
        with self._lock, self.engine.begin() as connection:
            ids = [row["target_id"] for row in rows]
            connection.execute(verdicts_table.delete().where(verdicts_table.c.target_id.in_(ids)))
            connection.execute(verdicts_table.insert(), rows)

    def verdicts(self) -> dict[str, VerdictRow]:
        """The latest stored verdict per target URL."""
        query = sa.select(verdicts_table, targets_table.c.url).join(
            targets_table, targets_table.c.id == verdicts_table.c.target_id
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {
            r.url: VerdictRow(r.url, r.member, r.updated_at, r.verdict, r.confidence, json.loads(r.document))
            for r in rows
        }
