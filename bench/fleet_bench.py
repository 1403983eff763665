"""Goroutine analysis and watch benchmarks: bucketing, dump diffs, and a loopback fleet of 2,000 at steady state."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import HERE, PYTHON, ROOT, Row, dump, ensure, go_build, run_measured, started


def bench_goroutine_buckets(repeat: int) -> list[Row]:
    """Parse + bucket 100k goroutines (in-process times of each step) — target: bucketing < 1 s."""
    path = dump(100_000)
    measured = run_measured([PYTHON, str(HERE / "run.py"), "--child", "bucket-dump", str(path)], repeat)
    detail = json.loads(measured.stdout)
    return [
        Row(
            "goroutine buckets",
            "leaksleuth",
            f"{detail['goroutines'] / 1000:.0f}k goroutines",
            measured.seconds,
            measured.rss_mb,
            f"in-process: parse {detail['parse_seconds']:.2f}s, bucket (any-value) {detail['bucket_seconds']:.2f}s "
            f"-> {detail['buckets']} buckets; any-pointer {detail['pointer_seconds']:.2f}s",
        )
    ]


def bench_goroutine_diff(repeat: int) -> list[Row]:
    """``leaksleuth goroutines diff`` of two 20k-goroutine dumps, whole process — target < 1 s."""
    base = dump(20_000)
    target = ensure("dump20k-b.txt", "-mode", "dump", "-goroutines", "20000")
    leaksleuth = str(Path(PYTHON).parent / "leaksleuth")
    measured = run_measured([leaksleuth, "goroutines", "diff", str(base), str(target), "--json"], repeat)
    rows = len(json.loads(measured.stdout)["rows"])
    size = (base.stat().st_size + target.stat().st_size) / 1e6
    return [
        Row(
            "goroutine diff",
            "leaksleuth",
            f"2 x 20k goroutines, {size:.0f} MB",
            measured.seconds,
            measured.rss_mb,
            f"{rows} buckets compared, whole process",
        )
    ]


FLEET = int(os.environ.get("BENCH_FLEET", "2000"))  # targets: the goal is 2,000 per core at 60 s within 1 GiB
INTERVAL = float(os.environ.get("BENCH_FLEET_INTERVAL", "60"))
REAL_ROUNDS = int(os.environ.get("BENCH_FLEET_ROUNDS", "8"))
SETTLING = 2  # the plan's first rounds: round 1 proves the replay's leaks, round 2 checks them once more
HISTORY = 120  # WatchConfig.history: snapshots each instance keeps


@contextlib.contextmanager
def steady_state_child(size: int, history: int, rounds: int, interval: float) -> Iterator[list[str]]:
    """The replay fleet and three real Go processes running, and the command of the child that watches them
    (``--steady-state``, with a store in a scratch folder); all stopped at the end."""
    replay = go_build(HERE / "replay", "replay")
    goleaks = go_build(ROOT / "testdata" / "go", "goleaks", "./goleaks")
    with contextlib.ExitStack() as stack:
        fleet = stack.enter_context(started([str(replay), "-dir", str(ROOT / "testdata" / "captures")]))[1]
        real = [stack.enter_context(started([str(goleaks), "-mode", m]))[1] for m in ("worker-pool", "lock", "burst")]
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="leaksleuth-bench-"))
        command = [PYTHON, str(Path(__file__).resolve()), "--steady-state", fleet, ",".join(real), str(size)]
        yield [*command, str(history), str(rounds), str(interval), f"{scratch}/store"]


def bench_watch_scale(repeat: int) -> list[Row]:
    """A loopback fleet at steady state: one replay server impersonating N services with real captured profiles,
    plus three real Go processes. Every instance's history is first filled to ``HISTORY`` snapshots (the memory a
    long watch reaches); then the watcher runs real rounds at the real interval, with the store, and the child
    reports RSS and CPU of those rounds and of the verdict."""
    del repeat  # a fleet run is long; one run
    with steady_state_child(FLEET, HISTORY, REAL_ROUNDS, INTERVAL) as command:
        measured = run_measured(command, 1)
    print(f"bench: watch fleet child: {measured.stdout.strip()}", file=sys.stderr)
    d = json.loads(measured.stdout)
    per_target_round = d["rounds_cpu_seconds"] / d["target_rounds"]
    settled = d["round_cpu_seconds"][SETTLING:]
    steady = sum(settled) / (len(settled) * FLEET) if settled else per_target_round  # the plan at its cadence
    history_kb = (d["rss_prefilled_mb"] - d["rss_start_mb"]) * 1024 / FLEET
    return [
        Row(
            "watch fleet, steady state",
            "leaksleuth",
            f"{FLEET} targets (replayed + 3 real Go), every history pre-filled to {HISTORY} snapshots, then "
            f"{REAL_ROUNDS} real rounds {INTERVAL:.0f} s apart with the store",
            measured.seconds,
            measured.rss_mb,
            f"RSS {d['rss_prefilled_mb']:.0f} MB with every history full ({history_kb:.0f} kB per target over "
            f"{d['rss_start_mb']:.0f} MB at start), {max(d['round_rss_mb']):.0f} MB after each real round "
            f"({' / '.join(f'{r:.0f}' for r in d['round_rss_mb'])}); {d['target_rounds']:,} target-rounds "
            f"({d['failed_rounds']} failed, {d['busy']} skipped busy), CPU {d['rounds_cpu_seconds']:.0f} s = "
            f"{per_target_round * 1000:.1f} ms per target-round with the store ({steady * 1000:.1f} ms from round "
            f"{SETTLING + 1}, once the plan is at its cadence), rounds took "
            f"{' / '.join(f'{w:.0f}' for w in d['round_seconds'])} s; verdict of all {FLEET}: "
            f"{d['verdict_cpu_seconds']:.1f} s CPU",
            f"{60 / steady:,.0f} targets per core at a 60 s interval ({60 / per_target_round:,.0f} counting the "
            f"first {SETTLING} rounds)",
        )
    ]


# ---- the steady-state child: runs in its own process so its RSS is the watcher's alone ---------------------------


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _steady_state(
    fleet: str, real: list[str], size: int, history: int, rounds: int, interval: float, store_dir: str
) -> dict[str, Any]:
    from leaksleuth.app.instance import InstanceState
    from leaksleuth.app.watch import Watcher
    from leaksleuth.app.watch_config import RoundSummary, WatchConfig
    from leaksleuth.collect.discovery import Discovery
    from leaksleuth.collect.plan import PlanConfig
    from leaksleuth.collect.scrape_config import ScrapeConfig
    from leaksleuth.collect.scraper import Scraper
    from leaksleuth.model.target import Target, make_target
    from leaksleuth.store.db import open_store

    targets = [make_target(f"http://{fleet}/t{i}", f"svc{i % 50}") for i in range(size - len(real))]
    targets += [make_target(f"http://{address}", "goleaks") for address in real]
    scrape = ScrapeConfig(heap_gc=True, plan=PlanConfig())  # watch's defaults: heap?gc=1 allowed, adaptive plan
    gc.collect()
    rss_start = _rss_mb()

    # pre-fill: each target scraped for real once; that scrape is absorbed `history` times by the watcher's own
    # code (Watcher._absorb, as after every scrape; no store here), dated one interval apart up to now, so every
    # instance holds a full history built from its own fetched bytes
    config = WatchConfig(interval=interval, max_rounds=rounds, history=history)
    filler = Watcher(Discovery(targets), scrape, config)
    prefill_cpu = time.process_time()
    async with Scraper(scrape) as scraper:
        slots = asyncio.Semaphore(16)

        async def prefill(target: Target) -> None:
            async with slots:
                result = await scraper.scrape(target)
            if result.status != "ok":
                raise SystemExit(f"bench: pre-fill scrape of {target.url} failed: {result.error}")
            state = filler.instances[target.url] = InstanceState(target.url, target.service, history)
            for age in range(history, 0, -1):
                await filler._absorb(dataclasses.replace(result, taken_at=result.taken_at - age * interval), state)

        await asyncio.gather(*(prefill(target) for target in targets))
    prefill_cpu = time.process_time() - prefill_cpu
    gc.collect()
    rss_prefilled = _rss_mb()

    store = open_store(store_dir)
    marks: list[tuple[float, float, int, float]] = []  # per round: CPU clock, wall seconds, skipped busy, RSS

    def on_round(summary: RoundSummary) -> None:
        marks.append((time.process_time(), summary.seconds, len(summary.busy), _rss_mb()))

    watcher = Watcher(Discovery(targets), scrape, config, store=store, on_round=on_round)
    watcher.instances.update(filler.instances)  # a watcher keeps the states it has for the targets it is given
    rounds_cpu = time.process_time()
    report = await watcher.run()
    finished_cpu = time.process_time()
    store.close()
    gc.collect()
    kept = list(watcher.instances.values())
    return {
        "targets": len(report.targets),
        "rss_start_mb": rss_start,
        "rss_prefilled_mb": rss_prefilled,
        "rss_after_mb": _rss_mb(),
        "prefill_cpu_seconds": prefill_cpu,
        "rounds_cpu_seconds": marks[-1][0] - rounds_cpu,
        "verdict_cpu_seconds": finished_cpu - marks[-1][0],
        "round_seconds": [mark[1] for mark in marks],
        "round_cpu_seconds": [b - a for a, b in itertools.pairwise([rounds_cpu, *(mark[0] for mark in marks)])],
        "round_rss_mb": [mark[3] for mark in marks],
        "busy": sum(mark[2] for mark in marks),
        "target_rounds": sum(state.rounds for state in kept) - history * len(kept),
        "failed_rounds": sum(state.failures for state in kept),
        "history_min": min(len(state.window) for state in kept),
        "heap_history_min": min(len(state.heap) for state in kept),
        "suspects_over_half": sum(1 for t in report.targets if any(s.confidence >= 0.5 for s in t.suspects)),
    }


if __name__ == "__main__" and sys.argv[1:2] == ["--steady-state"]:
    fleet_address, real_addresses, fleet_size, depth, real_rounds, seconds, store_path = sys.argv[2:]
    outcome = asyncio.run(
        _steady_state(
            fleet_address,
            real_addresses.split(","),
            int(fleet_size),
            int(depth),
            int(real_rounds),
            float(seconds),
            store_path,
        )
    )
    print(json.dumps(outcome))
