"""Time, injected: the one place the watch and the scraper read the clock or sleep.

Two clocks, on purpose. Wall time stamps what was seen (a snapshot's ``taken_at``, a target's ``departed_at``): it
may jump (NTP, a suspended laptop). Schedules (rounds every interval, deadlines, back-off, retention) run on the
event loop's clock, which never jumps, and sleep on it. Tests pass a fake: with ``looptime`` the loop's clock is
fast-forwarded, and a wall clock that follows it makes the schedule exact and instant.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on the clock schedules run on (the running event loop's)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on that clock."""
        ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
