"""leaksleuth benchmarks, side by side with `go tool pprof` on the same files in the same run.

    python bench/run.py [--only NAME ...] [--repeat 3] [--update-readme]

Inputs are generated (never committed) under bench/out by the stdlib Go generator in bench/gen. Every number is a
whole child process (wall seconds, peak RSS from wait4) unless the column says "in-process"; each command runs
`--repeat` times and the fastest run is kept (the machines are noisy; compare ratios, not absolute times).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bombs import empty_samples
from common import (
    OUT,
    PYTHON,
    README,
    Measured,
    Row,
    as_installed,
    commit_id,
    dump,
    go_binary,
    heap200k,
    heap200k_pair,
    require_same_rows,
    run_measured,
    table_rows,
)
from fleet_bench import bench_goroutine_buckets, bench_goroutine_diff, bench_watch_scale
from loop_bench import bench_loop_lag

# ---- child mode: time one operation in-process -----------------------------------------------------------------


def child(operation: str, path: str) -> None:
    started = time.perf_counter()
    if operation == "parse-dump":
        from leaksleuth.formats.goroutine_text import parse_goroutine_dump

        data = Path(path).read_bytes()
        began = time.perf_counter()
        parsed = parse_goroutine_dump(data)
        detail = {"goroutines": len(parsed.goroutines), "stacks": len(parsed.stacks()), "bytes": len(data)}
    elif operation == "load-profile":
        from leaksleuth.formats.pprof import parse_pprof

        data = Path(path).read_bytes()
        began = time.perf_counter()
        profile = parse_pprof(data)
        detail = {"samples": len(profile.samples), "frames": int(profile.samples.loc_index.size)}
    elif operation == "bucket-dump":
        from leaksleuth.analysis.goroutines.buckets import Similarity
        from leaksleuth.analysis.goroutines.snapshots import snapshot_from_dump
        from leaksleuth.formats.goroutine_text import parse_goroutine_dump

        data = Path(path).read_bytes()
        began = time.perf_counter()
        parsed = parse_goroutine_dump(data)
        parsed_at = time.perf_counter()
        snapshot = snapshot_from_dump(parsed)
        bucketed_at = time.perf_counter()
        snapshot_from_dump(parsed, similarity=Similarity.ANY_POINTER)
        detail = {
            "goroutines": len(parsed.goroutines),
            "buckets": len(snapshot.buckets),
            "parse_seconds": parsed_at - began,
            "bucket_seconds": bucketed_at - parsed_at,
            "pointer_seconds": time.perf_counter() - bucketed_at,
        }
    else:
        raise SystemExit(f"unknown child operation {operation}")
    done = time.perf_counter()
    print(json.dumps({"seconds": done - began, "import_seconds": began - started, **detail}))


def in_process(operation: str, path: Path, repeat: int) -> tuple[Measured, dict[str, float]]:
    measured = run_measured([PYTHON, str(Path(__file__)), "--child", operation, str(path)], repeat)
    return measured, json.loads(measured.stdout)


# ---- benchmarks ------------------------------------------------------------------------------------------------


def distinct_stacks(path: Path) -> Path:
    """The parser's worst case from a real dump: every goroutine's line numbers shifted by its index, so no two
    goroutines share a stack and nothing is interned (real services share most stacks)."""
    import re

    out = path.with_name(path.stem + "-distinct.txt")
    if not out.exists() or out.stat().st_mtime < path.stat().st_mtime:
        blocks = path.read_text().split("\n\n")
        shift = re.compile(r"\.go:(\d+) ")
        out.write_text(
            "\n\n".join(
                shift.sub(lambda m, i=index: f".go:{int(m.group(1)) + i} ", block) for index, block in enumerate(blocks)
            )
        )
    return out


def bench_dump_parse(repeat: int) -> list[Row]:
    rows = []
    for goroutines, worst in ((20_000, False), (20_000, True), (100_000, False)):
        path = distinct_stacks(dump(goroutines)) if worst else dump(goroutines)
        measured, detail = in_process("parse-dump", path, repeat)
        megabytes = detail["bytes"] / 1e6
        rows.append(
            Row(
                "debug=2 dump parse",
                "leaksleuth",
                f"{goroutines // 1000}k goroutines, {megabytes:.0f} MB" + (", no shared stack" if worst else ""),
                measured.seconds,
                measured.rss_mb,
                f"in-process {detail['seconds']:.3f}s = {megabytes / detail['seconds']:.0f} MB/s; "
                f"{detail['stacks']} distinct stacks",
            )
        )
    return rows


def bench_profile_load(repeat: int) -> list[Row]:
    path = heap200k()
    go = go_binary()
    ours, detail = in_process("load-profile", path, repeat)
    raw = run_measured([go, "tool", "pprof", "-raw", str(path)], repeat)
    label = f"heap, {detail['samples'] / 1000:.0f}k samples"
    return [
        Row(
            "profile load",
            "leaksleuth",
            label,
            ours.seconds,
            ours.rss_mb,
            f"in-process load {detail['seconds']:.3f}s ({detail['frames'] / 1e6:.1f}M frames)",
            f"{ours.seconds / raw.seconds:.2f}x time, {ours.rss_mb / raw.rss_mb:.2f}x RSS of pprof -raw",
        ),
        Row("profile load", "go tool pprof -raw", label, raw.seconds, raw.rss_mb, "parse + print every sample"),
    ]


def _versus_pprof(
    benchmark: str,
    label: str,
    leaksleuth: list[str],
    pprof: list[str],
    repeat: int,
    *,
    detail: str,
    pprof_detail: str,
) -> list[Row]:
    """``leaksleuth heap …`` against ``go tool pprof -top …`` on the same files: same table rows, then time and RSS.
    ``pprof`` is the flags before the files (``-top``, ``-diff_base``); ``{rows}`` in ``detail`` is the row count."""
    flags = [arg for arg in pprof if arg.startswith("-")]
    ours = run_measured([PYTHON, "-m", "leaksleuth", "heap", *leaksleuth], repeat)
    theirs = run_measured([go_binary(), "tool", "pprof", *pprof], repeat)
    require_same_rows(ours.stdout, theirs.stdout, benchmark)
    return [
        Row(
            benchmark,
            "leaksleuth",
            label,
            ours.seconds,
            ours.rss_mb,
            detail.format(rows=len(table_rows(ours.stdout))),
            f"{ours.seconds / theirs.seconds:.2f}x time, {ours.rss_mb / theirs.rss_mb:.2f}x RSS of pprof {flags[-1]}",
        ),
        Row(benchmark, f"go tool pprof {' '.join(flags)}", label, theirs.seconds, theirs.rss_mb, pprof_detail),
    ]


def bench_heap_top(repeat: int) -> list[Row]:
    path = str(heap200k())
    return _versus_pprof(
        "heap top",
        "heap, 200k samples (8M frames)",
        ["top", path],
        ["-top", path],
        repeat,
        detail="same rows as pprof ({rows})",
        pprof_detail="load, graph, print",
    )


def bench_heap_diff(repeat: int) -> list[Row]:
    base, grown = map(str, heap200k_pair())
    return _versus_pprof(
        "heap diff",
        "heap, 200k vs 200k samples",
        ["diff", base, grown, "--nodecount", "0"],
        ["-top", "-diff_base", base, grown],
        repeat,
        detail="same rows as pprof, plus leak paths and site clusters",
        pprof_detail="merge, graph, print",
    )


BOMB_RSS_TARGET_MB = 300


def bench_inspect_bomb(repeat: int) -> list[Row]:
    """``leaksleuth inspect`` on 46 KB of gzip that inflates to 12 M empty samples (issue 12, item 9): peak RSS must
    stay <= 300 MB, or the profile is refused cleanly (exit 3, one line naming the budget). The anchor: before the
    memory budget the same command took 1.96 GB and 7.7 s and printed the profile."""
    path = empty_samples()
    measured = run_measured([PYTHON, "-m", "leaksleuth", "inspect", str(path)], repeat, exit_codes=(0, 3))
    refused = "refused:" in measured.stderr
    if measured.rss_mb > BOMB_RSS_TARGET_MB and not refused:
        raise SystemExit(f"bench: inspect on {path.name} peaked at {measured.rss_mb:.0f} MB without refusing")
    outcome = "refused (exit 3, over the memory budget)" if refused else "inspected"
    return [
        Row(
            "inspect, amplification",
            "leaksleuth",
            f"12M empty samples: {path.stat().st_size / 1000:.0f} KB gzip, 48 MB inflated",
            measured.seconds,
            measured.rss_mb,
            outcome,
            f"peak RSS {measured.rss_mb / BOMB_RSS_TARGET_MB:.2f}x of the {BOMB_RSS_TARGET_MB} MB target",
        )
    ]


BENCHMARKS: dict[str, Callable[[int], list[Row]]] = {
    "dump-parse": bench_dump_parse,
    "goroutine-buckets": bench_goroutine_buckets,
    "goroutine-diff": bench_goroutine_diff,
    "profile-load": bench_profile_load,
    "heap-top": bench_heap_top,
    "heap-diff": bench_heap_diff,
    "inspect-bomb": bench_inspect_bomb,
    "watch-fleet": bench_watch_scale,
    "loop-lag": bench_loop_lag,
}


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | tool | input | wall s | peak RSS MB | detail | ratio |",
        "|---|---|---|---:|---:|---|---|",
    ]
    lines += [
        f"| {r.benchmark} | {r.tool} | {r.input} | {r.seconds:.2f} | {r.rss_mb:.0f} | {r.detail} | {r.ratio} |"
        for r in rows
    ]
    return "\n".join(lines)


def update_readme(markdown: str) -> None:
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    text = README.read_text()
    if start not in text or end not in text:
        raise SystemExit("bench: README has no <!-- bench:start --> / <!-- bench:end --> markers")
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    README.write_text(f"{head}{start}\n{markdown}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("OPERATION", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    OUT.mkdir(exist_ok=True)
    as_installed()
    rows: list[Row] = []
    for name in args.only or BENCHMARKS:
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        rows.extend(BENCHMARKS[name](args.repeat))
    cpu = platform.processor() or platform.machine()
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} at commit {commit_id()} on {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, "
        f"{subprocess.run([go_binary(), 'version'], capture_output=True, text=True, check=True).stdout.strip()}; "
        f"best of {args.repeat} runs, whole processes."
    )
    markdown = f"{header}\n\n{table(rows)}"
    print(markdown)
    (OUT / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    (OUT / "results.md").write_text(markdown + "\n")
    if args.update_readme:
        update_readme(markdown)


if __name__ == "__main__":
    main()
