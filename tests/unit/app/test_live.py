"""The event fan-out of serve --watch: bounded per reader, and one event per verdict change."""

from __future__ import annotations

import asyncio

from leaksleuth.app import live
from leaksleuth.app.live import EventHub, verdict_event
from leaksleuth.model.report import Suspect, TargetReport
from leaksleuth.model.views import InstanceFacts


def test_a_reader_that_falls_behind_is_dropped_not_buffered() -> None:
    async def scenario() -> None:
        hub = EventHub()
        slow, quick = hub.subscribe(), hub.subscribe()
        assert slow is not None and quick is not None
        for number in range(live.QUEUE_EVENTS):
            hub.publish({"event": "round", "round": number})
            quick.queue.get_nowait()
        assert not slow.dropped and len(hub) == 2
        hub.publish({"event": "round", "round": live.QUEUE_EVENTS})  # one more than slow's queue holds
        assert slow.dropped and not quick.dropped and len(hub) == 1
        assert slow.queue.qsize() == live.QUEUE_EVENTS  # what it had stays readable, nothing more is kept

    asyncio.run(scenario())


def test_subscribers_are_capped_and_close_ends_every_stream() -> None:
    async def scenario() -> None:
        hub = EventHub(max_subscribers=2)
        first, second = hub.subscribe(), hub.subscribe()
        assert hub.subscribe() is None
        hub.close()
        assert first is not None and second is not None and first.dropped and second.dropped
        assert first.queue.get_nowait() == {"event": "closing"} and len(hub) == 0

    asyncio.run(scenario())


def test_verdict_event_names_the_top_suspect() -> None:
    weak = Suspect("heap", "map-growth", "main.cache", "/src/cache.go", 10, 0.3, "grows")
    strong = Suspect("goroutine", "chan-send", "main.f.func1", "/src/f.go", 83, 0.95, "687 blocked")
    target = TargetReport(
        "http://10.0.0.7:6060", "ok", 5, None, [weak, strong], instance=InstanceFacts.from_json({"service": "checkout"})
    )
    event = verdict_event(target, "leaking", "too early", 7, 0.0)
    assert (event["verdict"], event["previous"], event["round"]) == ("leaking", "too early", 7)
    assert (event["file"], event["line"], event["confidence"]) == ("/src/f.go", 83, 0.95)
    assert event["time"] == "1970-01-01T00:00:00Z" and event["service"] == "checkout"
