"""The watcher's cycle collector: histories frozen out of its passes each round, cycles collected every few rounds,
and the interpreter's collector as it was once the watch ends."""

from __future__ import annotations

import asyncio
import gc
import weakref

from leaksleuth.app.collector import RoundCollector
from leaksleuth.app.watch import Watcher
from leaksleuth.app.watch_config import WatchConfig
from leaksleuth.collect.discovery import Discovery
from leaksleuth.collect.scrape_config import ScrapeConfig
from leaksleuth.model.target import make_target


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_what_a_round_starts_with_is_frozen_and_cycles_wait_for_the_full_collection() -> None:
    before = gc.get_threshold()
    collector = RoundCollector(full_every=3)
    cycle = _Cycle()
    alive = weakref.ref(cycle)
    try:
        collector.round_starts()  # round 1: the cycle is frozen with everything else
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[2] >= 100
        del cycle
        gc.collect()
        assert alive() is not None  # frozen: the collector does not see it
        collector.round_starts()  # round 2
        gc.collect()
        assert alive() is not None
        collector.round_starts()  # round 3: everything unfrozen and collected once
        assert alive() is None
    finally:
        collector.close()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_overlapping_watchers_restore_the_collector_when_the_last_one_closes() -> None:
    """serve runs alert-driven captures (each a watcher) beside its own watch: a capture that started during the
    watch and ended after it must not leave the raised threshold behind (it saved the raised one before)."""
    before = gc.get_threshold()
    watch, capture = RoundCollector(), RoundCollector()
    watch.round_starts()
    capture.round_starts()
    watch.close()
    assert gc.get_freeze_count() > 0 and gc.get_threshold()[2] >= 100  # the capture still runs
    capture.close()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_watch_leaves_the_collector_as_it_found_it() -> None:
    before = gc.get_threshold()
    frozen: list[int] = []
    watcher = Watcher(
        Discovery([make_target("http://127.0.0.1:9/")]),  # nothing listens: every round fails fast
        ScrapeConfig(timeout=0.5, retries=0),
        WatchConfig(interval=0.05, max_rounds=3),
        on_round=lambda _summary: frozen.append(gc.get_freeze_count()),
    )
    asyncio.run(watcher.run())
    assert len(frozen) == 3 and all(count > 0 for count in frozen)  # during the rounds, frozen
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
