"""Replicas of ``serve --watch --scale-out`` dividing one fleet: membership in the shared store, rendezvous hashing.

Each replica renews a heartbeat row every ``interval / 2`` with a lease of ``1.5 × interval`` and reads back who is
alive. A target belongs to the alive member with the highest hash of (member, target URL)
(``model.target.rendezvous_owner``), so replicas that read the same members agree without talking to each other,
and a member joining or leaving moves only its share. A replica that stops heartbeating (killed, partitioned) has
its lease run out at most 1.5 intervals after its last beat, and the others read the membership every half
interval: within 2 intervals its targets are someone else's. A replica that cannot reach the store for longer
than its lease watches nothing, since the others have taken over by then. No consensus protocol: while
memberships are being read, a target can be watched twice for a round (never zero times for longer than that).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from leaksleuth.model.target import Target, TargetSource, rendezvous_owner

if TYPE_CHECKING:
    from leaksleuth.store.db import Store

BEATS_PER_INTERVAL = 2
LEASE_INTERVALS = 1.5


def default_member_id() -> str:
    """Host name and pid: a pod name in Kubernetes, unique among replicas on one machine."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Membership:
    def __init__(
        self,
        store: Store,
        member: str,
        *,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.member = member
        self.every = interval / BEATS_PER_INTERVAL
        self.lease = interval * LEASE_INTERVALS
        self.clock = clock
        self.started_at = clock()
        self.members: list[str] = []
        self.last_beat: float | None = None  # when the store last answered
        self.error: str | None = None

    def beat(self) -> list[str]:
        """Renew the lease and read the members (blocking: call it in a thread)."""
        now = self.clock()
        try:
            self.members = self.store.heartbeat(self.member, now, now + self.lease, self.started_at)
        except Exception as exc:  # the database away for a moment must not end the watch: the lease decides
            self.error = f"{type(exc).__name__}: {exc}"
            return self.members
        self.last_beat, self.error = now, None
        return self.members

    async def run(self) -> None:
        """Heartbeat until cancelled, then leave (the others take over at once instead of after the lease)."""
        try:
            while True:
                await asyncio.to_thread(self.beat)
                await asyncio.sleep(self.every)
        finally:
            with contextlib.suppress(Exception):  # leaving is a courtesy: the lease runs out anyway
                await asyncio.shield(asyncio.to_thread(self.store.leave, self.member))

    def owns(self, target: Target) -> bool:
        if self.last_beat is None or self.clock() - self.last_beat > self.lease:
            return False  # the others stopped seeing us: they watch our share now
        return rendezvous_owner(target.url, self.members or [self.member]) == self.member

    def share(self, inner: TargetSource) -> TargetSource:
        """``inner``'s targets that this replica owns now."""

        async def owned() -> list[Target]:
            return [target for target in await inner() if self.owns(target)]

        return owned
