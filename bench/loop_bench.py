"""The event loop while a 64 MiB goroutine dump is parsed: how late a 10 ms ticker on the loop gets (what every
other target and, in ``serve``, every request waits), and the parse throughput, with the parse on the loop (as the
scraper did) beside the scraper as it is (the parse in its own thread).

The dump comes from the generator (``bench/gen``), just under the runtime's 64 MiB cap, and is served by the
replay server (``bench/replay``, a separate Go process) as a service's ``goroutineleak?debug=2``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import HERE, PYTHON, ROOT, Row, ensure, go_build, run_measured, started

DUMP_GOROUTINES = 31_000  # ~66 MB: just under the runtime's 64 MiB cap for a debug=2 dump
TICK = 0.01


def bench_loop_lag(repeat: int) -> list[Row]:
    dump = ensure("dump31k.txt", "-mode", "dump", "-goroutines", str(DUMP_GOROUTINES))
    if dump.stat().st_size > 64 << 20:
        raise SystemExit(f"bench: {dump} is over 64 MiB")
    replay = go_build(HERE / "replay", "replay")
    with tempfile.TemporaryDirectory(prefix="leaksleuth-lag-") as captures:
        shutil.copytree(ROOT / "testdata" / "captures", captures, dirs_exist_ok=True)
        shutil.copy(dump, Path(captures) / "parked.goroutineleak.debug2.txt")
        with started([str(replay), "-dir", captures]) as (_, address):
            rows = []
            for mode, tool in (("on-loop", "parse on the event loop (before)"), ("scraper", "leaksleuth scraper")):
                command = [PYTHON, str(Path(__file__).resolve()), "--child", mode, f"http://{address}/t0"]
                measured = run_measured(command, repeat)
                rows.append((tool, measured, json.loads(measured.stdout)))
    size = dump.stat().st_size
    anchor = rows[0][2]["max_lag_seconds"]
    return [
        Row(
            "event loop while a dump parses",
            tool,
            f"{DUMP_GOROUTINES // 1000}k goroutines, {size / 2**20:.1f} MiB debug=2 dump over loopback",
            measured.seconds,
            measured.rss_mb,
            f"10 ms ticker on the loop at most {d['max_lag_seconds'] * 1000:.0f} ms late ({d['ticks']} ticks); "
            f"parse {d['parse_seconds']:.2f}s = {size / 1e6 / d['parse_seconds']:.0f} MB/s",
            ""
            if index == 0
            else f"{d['max_lag_seconds'] / anchor:.3f}x the loop lag, "
            f"{rows[0][2]['parse_seconds'] / d['parse_seconds']:.2f}x the parse throughput",
        )
        for index, (tool, measured, d) in enumerate(rows)
    ]


# ---- the child: one parse of the dump while a ticker measures the loop ---------------------------------------------


async def _ticker(lags: list[float], done: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not done.is_set():
        due = loop.time() + TICK
        await asyncio.sleep(TICK)
        lags.append(loop.time() - due)


async def _child(mode: str, url: str) -> dict[str, Any]:
    from leaksleuth.collect import scraper
    from leaksleuth.collect.scrape_config import ScrapeConfig
    from leaksleuth.collect.scraper import Scraper
    from leaksleuth.formats import Format
    from leaksleuth.model.target import make_target

    parse_seconds: list[float] = []
    parse = scraper.parse

    def timed(data: bytes, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return parse(data, **options)
        finally:
            if len(data) > 32 << 20:
                parse_seconds.append(time.perf_counter() - started)

    lags: list[float] = []
    done = asyncio.Event()
    ticking = asyncio.get_running_loop().create_task(_ticker(lags, done))
    await asyncio.sleep(0.2)  # the ticker is running
    if mode == "on-loop":  # fetched over HTTP, then parsed right there, as the scraper did
        import httpx

        async with httpx.AsyncClient(timeout=60) as client:
            data = (await client.get(f"{url}/debug/pprof/goroutineleak?debug=2")).content
        timed(data, format=Format.GOROUTINE_DUMP)
    else:
        scraper.parse = timed  # type: ignore[assignment]
        async with Scraper(ScrapeConfig(timeout=60, retries=0, heap_every=0, metrics=False)) as scraping:
            result = await scraping.scrape(make_target(url))
        if result.status != "ok" or result.dump is None:
            raise SystemExit(f"bench: scrape failed: {result.error}")
    await asyncio.sleep(0.05)  # the ticker sees the end
    done.set()
    await ticking
    return {"max_lag_seconds": max(lags), "ticks": len(lags), "parse_seconds": parse_seconds[0]}


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    print(json.dumps(asyncio.run(_child(sys.argv[2], sys.argv[3]))))
