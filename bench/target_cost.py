"""What watching costs the watched service: a real Go service under a fixed request rate, unwatched and watched.

    python bench/target_cost.py [--seconds 30] [--rate 300] [--big-heap] [--only 10k] [--settle]

The service is bench/costsvc (stdlib: an allocating JSON handler, 10k or 50k parked goroutines, with --big-heap a
1 GiB pointer-full live heap too), loaded open-loop by costsvc's own client at ``--rate`` requests per second
(latency from each request's scheduled start). Each setting gets a fresh service process and one window of
``--seconds``: unwatched; ``leaksleuth watch`` at its defaults; at ``--interval 5s``; ``leaksleuth serve`` taking one
alert-driven capture in the window; and unwatched again (the noise floor of this machine). Per window: the
service's CPU seconds (/proc/<pid>/stat), p50/p99/p999 latency, GC cycles and stop-the-world pauses (runtime/metrics
``/sched/pauses/total/gc:seconds``, served on /stats), and each as a ratio to the first unwatched window.
``--settle``: each watch window starts once the adaptive plan's first rounds are done (what a long watch costs);
without it, the window holds the watcher's second round, which still proves leaks again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, OUT, PYTHON, go_build, started

from leaksleuth.collect import WATCH_INTERVAL
from leaksleuth.durations import parse_duration

LEAKSLEUTH = str(Path(PYTHON).parent / "leaksleuth")
TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 4.0  # seconds between starting the watcher and the window: its start-up and first round fall inside
SETTLING_ROUNDS = 2  # the plan's first rounds (round 1 proves leaks, round 2 checks them once more): with --settle


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def runtime_stats(address: str) -> dict[str, Any]:
    return dict(httpx.get(f"http://{address}/stats", timeout=10).json())


def pauses_between(before: dict[str, Any], after: dict[str, Any]) -> tuple[int, float, float]:
    """Stop-the-world GC pauses between two reads of the pause histogram: (count, total, longest), each pause
    taken at its bucket's upper bound (the histogram's buckets are a few percent wide)."""
    count, total, longest = 0, 0.0, 0.0
    for upper, was, now in zip(after["pause_uppers"], before["pause_counts"], after["pause_counts"], strict=True):
        if now > was:
            count += now - was
            total += (now - was) * upper
            longest = max(longest, upper)
    return count, total, longest


@dataclass
class Window:
    setting: str
    cpu: float
    gc_cycles: float
    pauses: float
    pause_seconds: float
    pause_max: float
    latency: dict[str, float]
    watcher: str = ""


@contextlib.contextmanager
def watching(setting: str, address: str, scratch: Path, settle: bool) -> Iterator[int]:
    """The observer of a setting, running; yields how much of its log was written before the window (``settle``:
    the window starts once the plan's first rounds are done)."""
    if setting in {"unwatched", "unwatched again"}:
        yield 0
        return
    if setting.startswith("serve"):
        with serving(address, scratch):
            yield 0
        return
    command = [LEAKSLEUTH, "watch", f"http://{address}", "--no-store", "--quiet", "--json-lines", "--round-events"]
    interval = WATCH_INTERVAL  # watch's default --interval
    if setting != "watch (defaults)":
        given = setting.rsplit(maxsplit=1)[-1]
        command += ["--interval", given]
        interval = parse_duration(given)  # as watch reads it
    path = scratch / "watch.out"
    log = path.open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(WARM_UP + (SETTLING_ROUNDS * interval if settle else 0.0))
        yield path.stat().st_size
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@contextlib.contextmanager
def serving(address: str, scratch: Path) -> Iterator[None]:
    """``leaksleuth serve``, and one firing alert for the service posted as the window starts."""
    from socket import socket

    with socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (scratch / "token").write_text("bench-token\n")
    command = [LEAKSLEUTH, "serve", "--listen", f"127.0.0.1:{port}", "--token-file", str(scratch / "token")]
    command += ["--target-template", "http://{instance}", "--store", str(scratch / "serve-store")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        alert = {
            "status": "firing",
            "labels": {"alertname": "GoroutineLeak", "instance": address},
            "annotations": {},
            "startsAt": "2026-12-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "bench",
        }
        payload = {"version": "4", "status": "firing", "receiver": "leaksleuth", "alerts": [alert]}
        payload |= {"groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "", "groupKey": ""}
        headers = {"Authorization": "Bearer bench-token"}
        httpx.post(f"{url}/alerts", json=payload, headers=headers, timeout=10).raise_for_status()
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure(service: list[str], setting: str, seconds: float, rate: int, settle: bool) -> Window:
    binary = service[0]
    with started(service) as (process, address), tempfile.TemporaryDirectory(prefix="leaksleuth-cost-") as scratch:
        time.sleep(1.0)  # parked goroutines and the heap settle
        with watching(setting, address, Path(scratch), settle) as before_window:
            before, cpu_before = runtime_stats(address), cpu_seconds(process.pid)
            load = [binary, "-load", f"http://{address}/work", "-rate", str(rate), "-duration", f"{seconds:g}s"]
            latency = json.loads(subprocess.run(load, capture_output=True, text=True, check=True).stdout)
            after, cpu_after = runtime_stats(address), cpu_seconds(process.pid)
        fetched = _watch_fetches(Path(scratch) / "watch.out", before_window)
    pauses, paused, longest = pauses_between(before, after)
    cycles = after["gc_cycles"] - before["gc_cycles"]
    return Window(setting, cpu_after - cpu_before, cycles, pauses, paused, longest, latency, fetched)


def _watch_fetches(log: Path, skip: int) -> str:
    """What the watcher said it fetched in the window (its per-round plan events after ``skip`` bytes of its log,
    the rounds before the window), counted by kind, and the rounds."""
    if not log.exists():
        return ""
    counts: dict[str, int] = {}
    rounds = 0
    for line in log.read_bytes()[skip:].decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and event.get("event") == "round":
                rounds += 1
                for kind in event.get("fetched", []):
                    counts[kind] = counts.get(kind, 0) + 1
    kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(counts.items()))
    return f"{rounds} rounds: {kinds}" if rounds else ""


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else ("1.00x" if value == 0 else "n/a")


def table(variant: str, windows: list[Window], seconds: float) -> list[str]:
    base = windows[0]
    lines = [
        f"\n{variant}: {seconds:g} s per window\n",
        "| setting | service CPU s (ratio, % of a core extra) | p50 ms | p99 ms (delta) | p999 ms | GC cycles "
        "| STW pauses (total ms, max ms) | watcher fetched |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in windows:
        extra = (w.cpu - base.cpu) / seconds * 100
        p99_delta = (w.latency["p99"] - base.latency["p99"]) * 1000
        lines.append(
            f"| {w.setting} | {w.cpu:.2f} ({ratio(w.cpu, base.cpu)}, {extra:+.1f}%) | {w.latency['p50'] * 1000:.2f} "
            f"| {w.latency['p99'] * 1000:.2f} ({p99_delta:+.2f}) | {w.latency['p999'] * 1000:.2f} "
            f"| {w.gc_cycles:.0f} ({ratio(w.gc_cycles, base.gc_cycles)}) "
            f"| {w.pauses:.0f} ({w.pause_seconds * 1000:.1f}, {w.pause_max * 1000:.2f}) | {w.watcher} |"
        )
    return lines


SETTINGS = ("unwatched", "watch (defaults)", "watch --interval 5s", "serve capture", "unwatched again")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--big-heap", action="store_true", help="add a 10k-goroutine variant with 1 GiB live heap")
    parser.add_argument("--only", action="append", help="variants to run (10k, 50k, 1GiB)")
    parser.add_argument(
        "--settle",
        action="store_true",
        help=f"start each watch window after the plan's first {SETTLING_ROUNDS} rounds (the steady state)",
    )
    args = parser.parse_args()
    binary = str(go_build(HERE / "costsvc", "costsvc"))
    variants = {"10k": ["-parked", "10000"], "50k": ["-parked", "50000"]}
    if args.big_heap:
        variants["1GiB"] = ["-parked", "10000", "-heap-mb", "1024"]
    results: dict[str, list[Window]] = {}
    lines = [f"target cost: {args.rate} requests/s, one fresh service per window"]
    if args.settle:
        lines[0] += f"; each watch window starts after the plan's first {SETTLING_ROUNDS} rounds"
    for name, flags in variants.items():
        if args.only and name not in args.only:
            continue
        results[name] = []
        for setting in SETTINGS:
            window = measure([binary, *flags], setting, args.seconds, args.rate, args.settle)
            results[name].append(window)
            print(f"bench: {name} {setting}: {window}", file=sys.stderr)
        lines += table(
            f"{name} goroutines" if name != "1GiB" else "10k goroutines, 1 GiB heap", results[name], args.seconds
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "target_cost.json").write_text(json.dumps({k: [vars(w) for w in v] for k, v in results.items()}))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
