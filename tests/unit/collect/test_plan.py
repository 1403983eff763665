"""The adaptive scrape plan (issue 17): the goroutine profile every round, the costly fetches only when they tell
something, each choice said. The planner is clock-free (it is told how long the goroutine profile took), so these
are exact; the last tests drive the real scraper against loopback captures."""

from __future__ import annotations

import asyncio

from leaksleuth.app.watch import Watcher
from leaksleuth.app.watch_config import WatchConfig
from leaksleuth.collect.discovery import Discovery
from leaksleuth.collect.plan import Plan, PlanConfig, TargetPlanner
from leaksleuth.collect.scrape_config import ScrapeConfig, ScrapeResult
from leaksleuth.collect.scraper import Scraper
from leaksleuth.model.target import make_target
from tests.support.hostile import fleet_server

MiB = 2**20
QUICK = 0.01  # seconds the goroutine profile takes on a healthy target


def _rounds(planner: TargetPlanner, totals: list[int], seconds: list[float] | None = None, **kw: object) -> list[Plan]:
    options = {"debug2_threshold": 5000, "heap_due": True, "heap_gc": True, **kw}
    times = seconds or [QUICK] * len(totals)
    return [planner.plan(total, took, **options) for total, took in zip(totals, times, strict=True)]  # type: ignore[arg-type]


def test_a_steady_target_gets_goroutineleak_every_n_rounds_and_debug2_only_on_the_first() -> None:
    plans = _rounds(TargetPlanner(PlanConfig(leak_every=4)), [100] * 9)
    assert [p.leak for p in plans] == ["dump", None, None, None, "proto", None, None, None, "proto"]
    assert "first round" in plans[0].reasons[0]
    assert plans[1].reasons[0] == "no goroutineleak: nothing grows"
    assert "every 4 rounds" in plans[4].reasons[0]


def test_growth_makes_the_round_fetch_the_dump_under_the_threshold_and_the_leak_proto_over_it() -> None:
    small = _rounds(TargetPlanner(PlanConfig(growth=5, leak_every=100)), [100, 101, 104, 110, 111])
    assert [p.leak for p in small] == ["dump", None, None, "dump", "dump"]  # 110 >= min(100..)+5; 111 too
    assert "goroutines 100 -> 110" in small[3].reasons[0]
    big = _rounds(TargetPlanner(PlanConfig(growth=5, leak_every=100)), [9000, 9000, 9089, 9090])
    assert [p.leak for p in big] == ["proto", None, None, "proto"]  # never a debug=2 dump of 9,000 goroutines
    assert any("no debug=2: 9090 goroutines, over 5000" in why for why in big[3].reasons)


def test_a_busy_service_s_request_goroutines_are_no_growth() -> None:
    """At 50k goroutines, +5 over the recent minimum was "growth suspected": the service's own request goroutines
    (costsvc at 300 requests/s) made the plan fetch goroutineleak, a GC cycle, in half of the rounds."""
    busy = _rounds(TargetPlanner(PlanConfig(growth=5, leak_every=100)), [50_000, 50_012, 50_003, 50_020, 50_499])
    assert [p.leak for p in busy] == ["proto", None, None, None, None]
    assert _rounds(TargetPlanner(PlanConfig(leak_every=100)), [50_000, 50_500])[1].leak == "proto"  # 1% of it


def test_proven_leaks_keep_the_target_suspected_while_they_rise_and_not_once_they_stay_put() -> None:
    planner = TargetPlanner(PlanConfig(leak_every=100))
    _rounds(planner, [50])
    planner.saw(leaked=3)  # the first proof
    rising = planner.plan(50, QUICK, debug2_threshold=5000, heap_due=False, heap_gc=True)
    assert rising.leak == "dump" and rising.reasons[0] == "goroutineleak debug=2: proven leaked goroutines rose to 3"
    planner.saw(leaked=3)  # proven again, not more: a GC cycle and a dump every round would prove nothing new
    steady = planner.plan(50, QUICK, debug2_threshold=5000, heap_due=False, heap_gc=True)
    assert steady.leak is None and steady.reasons[0] == "no goroutineleak: 3 proven leaked, not rising"
    planner.saw(leaked=4)
    assert planner.plan(50, QUICK, debug2_threshold=5000, heap_due=False, heap_gc=True).leak == "dump"
    planner.saw(leaked=3)  # a proto and a dump that count one apart: no rise below the high mark
    assert planner.plan(50, QUICK, debug2_threshold=5000, heap_due=False, heap_gc=True).leak is None
    planner.saw(leaked=0)
    assert planner.plan(50, QUICK, debug2_threshold=5000, heap_due=False, heap_gc=True).leak is None


def test_heap_gc1_only_once_the_live_heap_is_known_to_be_small() -> None:
    planner = TargetPlanner(PlanConfig(big_heap=256 * MiB))
    [first] = _rounds(planner, [10])
    assert first.heap == "plain" and "size not known yet" in first.reasons[-1]
    planner.saw(heap_bytes=40 * MiB)
    [small] = _rounds(planner, [10])
    assert small.heap == "gc" and small.reasons[-1] == "heap?gc=1: 40 MiB live, under 256"
    planner.saw(heap_bytes=1024 * MiB)
    [big] = _rounds(planner, [10])
    assert big.heap == "plain" and big.reasons[-1] == "heap without gc=1: 1024 MiB live, over 256"
    assert [p.heap for p in _rounds(planner, [10], heap_due=False)] == [None]
    assert [p.heap for p in _rounds(planner, [10], heap_gc=False)] == ["plain"]  # --no-heap-gc: never


def test_a_slow_target_gets_only_the_goroutine_profile_for_a_doubling_pause() -> None:
    planner = TargetPlanner(PlanConfig(leak_every=1, slow_factor=3.0, slow_floor=0.05, max_backoff=4))
    quick, slow = 0.02, 0.5
    plans = _rounds(planner, [10] * 10, [quick, quick, slow, quick, slow, quick, quick, quick, quick, quick])
    fetched = [(p.leak, p.heap) for p in plans]
    assert fetched[0] == ("dump", "plain") and fetched[1] == ("proto", "plain")
    assert fetched[2] == (None, None) and "target slow: goroutine profile took 500 ms" in plans[2].reasons[0]
    assert fetched[3] == (None, None) and "backing off" in plans[3].reasons[0]  # a pause of one round
    assert fetched[4] == (None, None) and "for 3 rounds" in plans[4].reasons[0]  # slow again: twice as long
    assert fetched[5:7] == [(None, None)] * 2
    assert fetched[7][0] == "proto"  # back to the plan once it answers quickly
    assert plans[7].leak == "proto"


def test_a_single_slow_spike_does_not_teach_the_planner_that_slow_is_usual() -> None:
    planner = TargetPlanner(PlanConfig(leak_every=1, max_backoff=1))
    plans = _rounds(planner, [10] * 6, [0.02, 0.02, 0.5, 0.02, 0.02, 0.5])
    assert [p.leak is None for p in plans] == [False, False, True, True, False, True]


def _four_rounds(url: str, plan: PlanConfig | None) -> list[ScrapeResult]:
    async def run() -> list[ScrapeResult]:
        async with Scraper(ScrapeConfig(timeout=5, retries=0, heap_gc=True, plan=plan)) as scraping:
            return [await scraping.scrape(make_target(url)) for _ in range(4)]

    results = asyncio.run(run())
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    return results


def test_the_scraper_follows_the_plan_and_says_why() -> None:
    """``parked`` (Go 1.26) has goroutines the runtime proves leaked, the same every round: proven on the first
    round, checked once more, then on the leak cadence; an old Go's healthy dump is fetched once, then only the
    count; without a plan, all of it every round."""
    with fleet_server() as (base, fleet):
        leaking = _four_rounds(f"{base}/go126-1", PlanConfig(leak_every=3))
        quiet = _four_rounds(f"{base}/oldgo-1", PlanConfig(leak_every=3))
        full = _four_rounds(f"{base}/go126-2", None)
        paths = {name: fleet.queries(name) for name in ("go126-1", "oldgo-1", "go126-2")}
    assert paths["go126-1"].count("/debug/pprof/goroutine") == 4  # the count, every round
    assert paths["go126-1"].count("/debug/pprof/goroutineleak?debug=2") == 2  # rounds 1 and 2
    assert paths["go126-1"].count("/debug/pprof/goroutineleak") == 1  # round 4: the proto, on the cadence
    assert leaking[1].plan[0].startswith("goroutineleak debug=2: proven leaked goroutines rose to ")
    assert leaking[2].plan[0].startswith("no goroutineleak: ") and leaking[2].plan[0].endswith(" not rising")
    assert leaking[3].plan[0].startswith("goroutineleak proto: every 3 rounds, ")
    assert paths["go126-1"].count("/debug/pprof/heap") == 1  # the first: the live heap's size not known yet
    assert paths["go126-1"].count("/debug/pprof/heap?gc=1") == 3
    assert [r.get("goroutine-dump") is not None for r in quiet] == [True, False, False, False]
    assert quiet[1].plan[0] == "no goroutineleak: nothing grows"
    assert not any(r.plan for r in full)
    assert paths["go126-2"].count("/debug/pprof/goroutineleak?debug=2") == 4  # without a plan: every round
    assert paths["go126-2"].count("/debug/pprof/heap?gc=1") == 4


def test_the_report_says_what_the_plan_fetched_and_why() -> None:
    with fleet_server() as (base, _):
        watcher = Watcher(
            Discovery([make_target(f"{base}/oldgo-1")]),
            ScrapeConfig(timeout=5, retries=0, heap_gc=True, plan=PlanConfig(leak_every=6)),
            WatchConfig(interval=1.0, max_rounds=3),
        )
        [target] = asyncio.run(watcher.run()).to_json()["targets"]
    plan = target["scrape_plan"]
    assert plan["fetched"] == {"goroutine": 3, "goroutine-dump": 1, "heap": 3, "heap?gc=1": 2, "vars": 3}
    assert plan["last_round"][0] == "no goroutineleak: nothing grows"
    assert plan["last_round"][-1].startswith("heap?gc=1: ")
