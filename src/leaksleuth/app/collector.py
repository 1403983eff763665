"""The cycle collector in a long watch: what the histories hold is frozen out of its passes, round by round.

A watcher holds every target's history (hundreds of thousands of objects at 500 targets with full histories) and
allocates a round's worth of parsed profiles on top. Python's full collections walk every tracked object, and a
round's allocations start several of them: at 300 targets with 120 snapshots each, 5.5 full collections per round
took 20% of the watcher's CPU, a cost per target that grew with the fleet. At each round start ``gc.freeze()``
moves what exists into the permanent generation (O(1)), so collections walk only what came since, and a full
collection waits for ``OLD_THRESHOLD`` middle-generation passes. What is frozen is still freed by reference
counting when a history drops it; only garbage in reference cycles waits, until every ``full_every`` rounds it is
unfrozen and collected once.

The collector is the process's: watchers can overlap (``serve`` runs alert-driven captures beside its own watch),
so the first one active saves the interpreter's thresholds and the last one to close restores them and unfreezes.
"""

from __future__ import annotations

import gc
import threading

FULL_EVERY = 5  # rounds between full collections of everything (cyclic garbage among frozen objects waits that long)
OLD_THRESHOLD = 100  # middle-generation passes between full ones (CPython's default, 10, assumes a small old heap)


class _Process:
    """What every collector of the process shares."""

    lock = threading.Lock()
    active = 0  # collectors between their first round and close
    saved: tuple[int, int, int] = gc.get_threshold()  # the interpreter's thresholds before the first one


class RoundCollector:
    def __init__(self, full_every: int = FULL_EVERY) -> None:
        self.full_every = max(1, full_every)
        self.rounds = 0
        self.active = False

    def round_starts(self) -> None:
        self.rounds += 1
        with _Process.lock:
            if not self.active:
                if _Process.active == 0:
                    _Process.saved = young, middle, old = gc.get_threshold()
                    gc.set_threshold(young, middle, max(old, OLD_THRESHOLD))
                _Process.active += 1
            elif self.rounds % self.full_every == 0:
                gc.unfreeze()
                gc.collect()
            gc.freeze()
        self.active = True

    def close(self) -> None:
        with _Process.lock:
            if not self.active:
                return
            self.active = False
            _Process.active -= 1
            if _Process.active == 0:
                gc.unfreeze()
                gc.set_threshold(*_Process.saved)
