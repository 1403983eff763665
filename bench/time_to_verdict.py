"""How soon a verdict comes: the live leak corpus and its healthy look-alikes under one ``watch --interval 5s``.

    python bench/time_to_verdict.py [--seconds 90] [--interval 5s] [--full-scrape]

The corpus is tests/live/test_verdict_live.py's (nine goroutine leaks, two heap leaks, a leak beside a finished run
loop, eight look-alikes), each a real Go process on loopback. The watcher prints one ``--round-events`` event per
target and round with its top suspect; this bench stamps each event as it arrives. Per leak: the seconds from the
first round until its top-1 suspect names the right file:line at >= 0.8 (and the round). Per look-alike: the
highest confidence it reached in any round, and in which (a look-alike must never reach 0.5, not only at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import OUT, PYTHON, go_binary
from tests.live.test_verdict_live import HEALTHY_MODES, HEAP_HEALTHY, HEAP_LEAKS, LEAK_MODES
from tests.support.golive import GO_MODULE, build, marker_line, running

LEAKSLEUTH = str(Path(PYTHON).parent / "leaksleuth")
GOLEAKS = GO_MODULE / "goleaks" / "main.go"
VERDICT, LOOK_ALIKE_LIMIT = 0.8, 0.5


def corpus(out: Path) -> tuple[dict[str, list[str]], dict[str, tuple[Path, int]]]:
    """Commands per name, and where each leak's top suspect must point."""
    go = go_binary()
    goleaks = str(build(go, "goleaks", out))
    commands = {mode: [goleaks, "-mode", mode] for mode in LEAK_MODES + HEALTHY_MODES}
    commands["http-body"] = ["env", "GODEBUG=tracebackancestors=5", *commands["http-body"], "-every", "50ms"]
    commands["timeout-send+run-loop"] = [goleaks, "-mode", "timeout-send", "-run-loop"]
    expected = {mode: (GOLEAKS, marker_line(GOLEAKS, mode)) for mode in LEAK_MODES}
    expected["timeout-send+run-loop"] = expected["timeout-send"]
    for name in HEAP_LEAKS:
        commands[name] = [str(build(go, name, out)), "-lifetime", "300s"]
        source = GO_MODULE / name / "main.go"
        expected[name] = (source, next(n for n, t in enumerate(source.read_text().splitlines(), 1) if "// LEAK:" in t))
    for name, flags in HEAP_HEALTHY.items():
        commands[name] = [str(build(go, name, out)), "-lifetime", "300s", *flags]
    return commands, expected


def watch(urls: dict[str, str], seconds: float, interval: str, full: bool) -> list[tuple[float, dict[str, Any]]]:
    """Every round event of the watch, stamped with its arrival (seconds since the first round's first event)."""
    command = [LEAKSLEUTH, "watch", *urls.values(), "--interval", interval, "--duration", f"{seconds:g}s"]
    command += ["--no-store", "--quiet", "--round-events", *(["--full-scrape"] if full else [])]
    events: list[tuple[float, dict[str, Any]]] = []
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    first: float | None = None
    for line in process.stdout:
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == "round":
                now = time.monotonic()
                first = now if first is None else first
                events.append((now - first, event))
    process.wait(timeout=60)
    return events


def judge(
    events: list[tuple[float, dict[str, Any]]], urls: dict[str, str], expected: dict[str, tuple[Path, int]]
) -> dict[str, dict[str, Any]]:
    names = {url: name for name, url in urls.items()}
    outcome: dict[str, dict[str, Any]] = {name: {"max": 0.0, "max_round": None, "verdict": None} for name in urls}
    for at, event in events:
        name = names.get(event["target"])
        top = event.get("top")
        if name is None or top is None:
            continue
        row = outcome[name]
        if top["confidence"] > row["max"]:
            row["max"], row["max_round"], row["max_what"] = top["confidence"], event["round"], top["category"]
        where = expected.get(name)
        right = where is not None and (Path(top["file"]), top["line"]) == where and top["confidence"] >= VERDICT
        if right and row["verdict"] is None:
            row["verdict"], row["round"] = at, event["round"]
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--interval", default="5s")
    parser.add_argument("--full-scrape", action="store_true", help="the watcher without its adaptive plan")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leaksleuth-ttv-") as scratch, contextlib.ExitStack() as stack:
        commands, expected = corpus(Path(scratch))
        urls = {name: f"http://{stack.enter_context(running(command))[1]}" for name, command in commands.items()}
        events = watch(urls, args.seconds, args.interval, args.full_scrape)
    outcome = judge(events, urls, expected)
    OUT.mkdir(exist_ok=True)
    (OUT / "time_to_verdict.json").write_text(json.dumps(outcome, indent=1))
    plan = "--full-scrape" if args.full_scrape else "adaptive plan"
    print(f"time to verdict: watch --interval {args.interval}, {args.seconds:g} s, {plan}, {len(urls)} targets\n")
    print("| leak | kind | seconds to top-1 right at >= 0.8 (round) | max confidence |")
    print("|---|---|---|---|")
    for name in expected:
        row = outcome[name]
        kind = "heap" if name in HEAP_LEAKS else "goroutine"
        when = f"{row['verdict']:.0f} s ({row['round']})" if row["verdict"] is not None else "not within the run"
        print(f"| {name} | {kind} | {when} | {row['max']:.2f} |")
    print("\n| look-alike | max confidence in any round (round, category) | ever >= 0.5 |")
    print("|---|---|---|")
    for name in [*HEALTHY_MODES, *HEAP_HEALTHY]:
        row = outcome[name]
        where = f" ({row['max_round']}, {row.get('max_what')})" if row["max_round"] is not None else ""
        print(f"| {name} | {row['max']:.2f}{where} | {'YES' if row['max'] >= LOOK_ALIKE_LIMIT else 'no'} |")


if __name__ == "__main__":
    main()
