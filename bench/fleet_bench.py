"""Goroutine analysis and watch benchmarks: bucketing, dump diffs, and a loopback fleet of hundreds of targets."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common import HERE, PYTHON, ROOT, Row, dump, ensure, go_build, run_measured


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


@contextlib.contextmanager
def _started(command: list[str], cwd: Path | None = None) -> Iterator[str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=cwd)
    try:
        assert process.stdout is not None
        address = ""
        for _ in range(20):
            line = process.stdout.readline()
            if line.startswith("LISTEN "):
                address = line.split()[1]
            if line.strip() == "READY":
                break
        if not address:
            raise SystemExit(f"bench: {command[0]} did not start")
        yield address
    finally:
        process.kill()
        process.wait(timeout=10)


def bench_watch_scale(repeat: int) -> list[Row]:
    """A loopback fleet: one replay server impersonating N services with real captured profiles, plus three real
    Go processes. Reports CPU and memory per target and round, and what that means at a 60 s interval."""
    del repeat  # a fleet run is long; one run per size
    replay = go_build(HERE / "replay", "replay")
    goleaks = go_build(ROOT / "testdata" / "go", "goleaks", "./goleaks")
    rows = []
    rounds = 4
    with contextlib.ExitStack() as stack:
        fleet = stack.enter_context(_started([str(replay), "-dir", str(ROOT / "testdata" / "captures")]))
        real = [stack.enter_context(_started([str(goleaks), "-mode", m])) for m in ("worker-pool", "lock", "burst")]
        for size in (500, 2000):
            with tempfile.TemporaryDirectory(prefix="leaksleuth-bench-") as scratch:
                targets = Path(scratch) / "targets.txt"
                lines = [f"http://{fleet}/t{i} service=svc{i % 50}" for i in range(size - len(real))]
                lines += [f"http://{address} service=goleaks" for address in real]
                targets.write_text("\n".join(lines) + "\n")
                command = [
                    str(Path(PYTHON).parent / "leaksleuth"),
                    "watch",
                    "--targets-file",
                    str(targets),
                    "--rounds",
                    str(rounds),
                    "--interval",
                    "1s",
                    "--quiet",
                    "--store",
                    f"{scratch}/store",
                ]
                measured = run_measured(command, 1)
            per_target_round = measured.cpu_seconds / (size * rounds)
            rows.append(
                Row(
                    "watch fleet",
                    "leaksleuth",
                    f"{size} targets x {rounds} rounds (replayed + 3 real Go)",
                    measured.seconds,
                    measured.rss_mb,
                    f"CPU {measured.cpu_seconds:.1f}s = {per_target_round * 1000:.1f} ms per target-round, with store; "
                    f"{measured.rss_mb / size * 1024:.0f} kB RSS per target",
                    f"{60 / per_target_round:,.0f} targets per core at a 60 s interval",
                )
            )
    return rows
