"""CPU of one ``Store.record_round`` (issue 17: the watcher's store thread holds the GIL, so this is watcher capacity).

Each call stores a round like the watcher's: three gzip'd protos (goroutine, goroutineleak, heap), two debug=2
dumps, the /metrics text, the summaries ``record_result`` writes and ~20 series values, into a fresh embedded store
(SQLite + a local blob folder) in a temporary directory. Every round's bodies are new (a suffix makes each one
unique, as live bodies are: counts, stacks and timestamps change), so every call writes six blobs; ``--repeat``
stores the same bodies every round instead (every blob already there). The bodies are made before the clock starts.

CPU is ``time.process_time`` around each call (user + system of this process; the fsync's wait is wall time and
not counted). Prints the median per call over ``--runs`` fresh stores, the same split into user and system time
(``getrusage`` over a run's calls: system time is mostly the kernel creating and syncing files, with the GIL
released; user time is what holds the GIL), and the stored size of the text blobs.

    .venv/bin/python bench/store_bench.py [--calls 300] [--runs 7] [--repeat] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "testdata" / "captures"
BODIES = (  # (kind, format, file): what the watcher fetches from one target in a round
    ("goroutine", "pprof", "parked.goroutine.pb.gz"),
    ("goroutineleak", "pprof", "parked.goroutineleak.pb.gz"),
    ("heap", "pprof", "heapkinds.heap.pb.gz"),
    ("goroutine-dump", "goroutine-dump", "parked.goroutine.debug2.txt"),
    ("goroutineleak-dump", "goroutine-dump", "parked.goroutineleak.debug2.txt"),
    ("metrics", "prometheus", "parked.metrics.txt"),
)
SERIES = 20


def _unique(data: bytes, round_number: int) -> bytes:
    """The body made unique to its round: text gets a comment line, a gzip stream a second gzip member (gzip
    readers concatenate members, so it stays a valid, still-compressed profile)."""
    suffix = f"\n# round {round_number}\n".encode()
    return data + gzip.compress(suffix, mtime=0) if data[:2] == b"\x1f\x8b" else data + suffix


def _rounds(calls: int, repeat: bool) -> list[list[object]]:
    from leaksleuth.store.db import NewSnapshot

    bodies = [(kind, fmt, (CAPTURES / name).read_bytes()) for kind, fmt, name in BODIES]
    rounds: list[list[object]] = []
    for number in range(calls):
        snapshots = []
        for kind, fmt, data in bodies:
            summary: dict[str, float | int | str] = {}
            if kind in ("goroutine", "goroutine-dump"):
                summary["goroutines"] = 1200 + number
            if kind == "heap":
                summary["heap_inuse"] = 5.5e6 + number
            body = data if repeat else _unique(data, number)
            snapshots.append(NewSnapshot(kind, fmt, body, summary, 1.7e9, "buildid-0123456789abcdef"))
        rounds.append(snapshots)
    return rounds


def one_run(calls: int, repeat: bool) -> dict[str, float]:
    from leaksleuth.store.db import open_store

    rounds = _rounds(calls, repeat)
    series = {f"go_metric_{index}": float(index) * 1.5 for index in range(SERIES)}
    with tempfile.TemporaryDirectory(prefix="leaksleuth-store-bench-") as directory:
        store = open_store(directory)
        try:
            target = store.target_id("http://10.0.0.1:6060", "api", {"zone": "a"})
            store.record_round(target, 1.0, rounds[0], series)  # warm: tables, statement caches, folders
            per_call = []
            before = resource.getrusage(resource.RUSAGE_SELF)
            for number, snapshots in enumerate(rounds[1:], start=2):
                started = time.process_time()
                store.record_round(target, float(number), snapshots, series)  # type: ignore[arg-type]
                per_call.append(time.process_time() - started)
            after = resource.getrusage(resource.RUSAGE_SELF)
            text_stored = sum(
                row.stored_size for row in store.snapshots() if row.encoding == "gzip" and row.taken_at == 2.0
            )
            text_size = sum(row.size for row in store.snapshots() if row.encoding == "gzip" and row.taken_at == 2.0)
        finally:
            store.close()
    return {
        "cpu_ms_median": statistics.median(per_call) * 1000,
        "cpu_ms_mean": statistics.fmean(per_call) * 1000,
        "user_ms": (after.ru_utime - before.ru_utime) / len(per_call) * 1000,
        "system_ms": (after.ru_stime - before.ru_stime) / len(per_call) * 1000,
        "text_size": text_size,
        "text_stored": text_stored,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="record_round calls per run (default 300)")
    parser.add_argument("--runs", type=int, default=7, help="fresh stores (default 7)")
    parser.add_argument("--repeat", action="store_true", help="the same bodies every round (blobs already stored)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = parser.parse_args(argv)
    runs = [one_run(args.calls, args.repeat) for _ in range(args.runs)]
    medians = sorted(run["cpu_ms_median"] for run in runs)
    result = {
        "cpu_ms_per_call": statistics.median(medians),
        "cpu_ms_per_call_runs": [round(value, 3) for value in medians],
        "cpu_ms_mean": statistics.median(run["cpu_ms_mean"] for run in runs),
        "user_ms_per_call": statistics.median(run["user_ms"] for run in runs),
        "system_ms_per_call": statistics.median(run["system_ms"] for run in runs),
        "text_bytes": runs[0]["text_size"],
        "text_stored_bytes": runs[0]["text_stored"],
        "calls": args.calls,
        "repeat": args.repeat,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"record_round ({'same bodies' if args.repeat else 'new bodies'}, {args.calls} calls x {args.runs} runs): "
            f"{result['cpu_ms_per_call']:.3f} CPU ms per call (median; runs {medians[0]:.3f}..{medians[-1]:.3f}, "
            f"mean {result['cpu_ms_mean']:.3f}; user {result['user_ms_per_call']:.3f} + system "
            f"{result['system_ms_per_call']:.3f}); text {result['text_bytes']} B stored as "
            f"{result['text_stored_bytes']} B"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
