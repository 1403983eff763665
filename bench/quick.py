"""The quick bench (< 3 min): the hot paths on the small artifacts, side by side with `go tool pprof` in one run.

    python bench/quick.py [--pairs 5] [--write-readme]

Each leaksleuth command and its pprof counterpart run as alternated pairs (ours, theirs, ours, theirs …) so that
the noise of a shared machine falls on both alike; every number is the median over the pairs, and the ratios are
of the medians. Rows are checked to be pprof's rows before anything is timed. ``--write-readme`` replaces the
README's quick table (between ``<!-- bench-quick:start -->`` and ``<!-- bench-quick:end -->``), headed by the
commit the numbers were measured at; it refuses when src/ or bench/ have uncommitted changes, so the README never
shows numbers of code that no commit has.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    OUT,
    PYTHON,
    README,
    Measured,
    as_installed,
    commit_id,
    dump,
    ensure,
    go_binary,
    heap200k,
    require_same_rows,
    run_once,
)

RUN = str(Path(__file__).resolve().parent / "run.py")
LEAKSLEUTH = [PYTHON, "-m", "leaksleuth"]


@dataclass(frozen=True)
class Median:
    seconds: float
    rss_mb: float
    stdout: str


def median(runs: list[Measured]) -> Median:
    return Median(statistics.median(r.seconds for r in runs), statistics.median(r.rss_mb for r in runs), runs[0].stdout)


def alternated(ours: list[str], theirs: list[str], pairs: int) -> tuple[Median, Median]:
    """Medians of ``pairs`` alternated runs of two commands (one warm-up run each first, not counted)."""
    run_once(ours), run_once(theirs)
    mine: list[Measured] = []
    other: list[Measured] = []
    for _ in range(pairs):
        mine.append(run_once(ours))
        other.append(run_once(theirs))
    return median(mine), median(other)


def repeated(command: list[str], runs: int) -> list[Measured]:
    run_once(command)
    return [run_once(command) for _ in range(runs)]


@dataclass(frozen=True)
class QuickRow:
    work: str
    input: str
    leaksleuth: str
    pprof: str
    measured: str
    target: str
    met: bool

    def markdown(self) -> str:
        cells = [self.work, self.input, self.leaksleuth, self.pprof, self.measured, self.target]
        return "| " + " | ".join([*cells, "yes" if self.met else "**no**"]) + " |"


def versus_pprof(
    work: str, label: str, ours: list[str], theirs: list[str], pairs: int, target: tuple[float, float]
) -> QuickRow:
    """``ours`` against pprof's ``theirs``: the same table rows, then wall and RSS ratios against ``target``."""
    wall, rss = target
    require_same_rows(run_once(ours).stdout, run_once(theirs).stdout, work)
    mine, other = alternated(ours, theirs, pairs)
    time_ratio, rss_ratio = mine.seconds / other.seconds, mine.rss_mb / other.rss_mb
    return QuickRow(
        work,
        label,
        f"{mine.seconds:.2f} s, {mine.rss_mb:.0f} MB",
        f"{other.seconds:.2f} s, {other.rss_mb:.0f} MB",
        f"{time_ratio:.2f}× wall, {rss_ratio:.2f}× RSS (same rows)",
        f"≤ {wall}× wall, ≤ {rss}× RSS",
        time_ratio <= wall and rss_ratio <= rss,
    )


def heap_rows(pairs: int) -> list[QuickRow]:
    heap = str(heap200k())
    base = str(ensure("heap20k.pb.gz", "-mode", "heap", "-samples", "20000", "-grow", "0"))
    go = go_binary()
    return [
        versus_pprof(
            "heap top",
            "200k-sample heap profile",
            [*LEAKSLEUTH, "heap", "top", heap],
            [go, "tool", "pprof", "-top", heap],
            pairs,
            (0.33, 0.4),
        ),
        versus_pprof(
            "heap diff",
            "20k-sample base vs the 200k profile",
            [*LEAKSLEUTH, "heap", "diff", base, heap, "--nodecount", "0"],
            [go, "tool", "pprof", "-top", "-diff_base", base, heap],
            pairs,
            (0.3, 0.4),
        ),
    ]


PARSE_TARGET_MB_S = 175
INSPECT_TARGET_S = 0.3
START_TARGET_S = 0.1


def dump_rows(pairs: int) -> list[QuickRow]:
    path = dump(20_000)
    megabytes = path.stat().st_size / 1e6
    label = f"20k-goroutine debug=2 dump, {megabytes:.0f} MB"
    parses = [json.loads(run.stdout) for run in repeated([PYTHON, RUN, "--child", "parse-dump", str(path)], pairs)]
    rate = megabytes / statistics.median(p["seconds"] for p in parses)
    inspect = median(repeated([*LEAKSLEUTH, "inspect", "--json", str(path)], pairs))
    return [
        QuickRow(
            "dump parse, in-process", label, f"{rate:.0f} MB/s", "—", f"{rate:.0f} MB/s",
            f"≥ {PARSE_TARGET_MB_S} MB/s", rate >= PARSE_TARGET_MB_S,
        ),
        QuickRow(
            "`inspect --json`, whole process", label, f"{inspect.seconds:.2f} s, {inspect.rss_mb:.0f} MB", "—",
            f"{inspect.seconds:.2f} s", f"≤ {INSPECT_TARGET_S} s", inspect.seconds <= INSPECT_TARGET_S,
        ),
    ]  # fmt: skip


# The child that reports when a file command first opens its FILE (an audit hook: the command runs unchanged, as
# the installed ``leaksleuth`` script runs it; the hook sees every audited event, ~1 ms of a start).
_FIRST_READ = """
import os, sys, time
source = sys.argv[-1]
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)) and os.fspath(args[0]) == source and not seen:
        seen.append(os.write(2, b"first-read %d\\n" % time.monotonic_ns()))
seen = []
sys.addaudithook(hook)
sys.argv = ["leaksleuth", *sys.argv[1:]]
from leaksleuth.cli.main import run
run()
"""


def until_read(arguments: list[str]) -> float:
    """Seconds from the exec of ``leaksleuth ARGUMENTS`` to its first open of its last argument, a file."""
    started = time.monotonic_ns()
    done = subprocess.run([PYTHON, "-c", _FIRST_READ, *arguments], capture_output=True, check=True)
    marks = [line for line in done.stderr.splitlines() if line.startswith(b"first-read ")]
    if not marks:
        raise SystemExit(f"bench: leaksleuth {' '.join(arguments)} never opened its file")
    return (int(marks[0].split()[1]) - started) / 1e9


def start_rows(pairs: int) -> list[QuickRow]:
    """A file command's start: the time to its read of the file (what the target is about, "start ... before
    reading"), beside the whole process on a 10-goroutine dump (reading it is nothing; the rest is the table)."""
    tiny = str(ensure("dump-tiny.txt", "-mode", "dump", "-goroutines", "10"))
    bare = median(repeated([PYTHON, "-c", "pass"], pairs)).seconds
    rows = []
    for command in ("inspect", "goroutines"):
        whole = median(repeated([*LEAKSLEUTH, command, tiny], pairs)).seconds
        until_read([command, tiny])  # (a warm-up run, as ``repeated`` makes one)
        start = statistics.median(until_read([command, tiny]) for _ in range(pairs))
        rows.append(
            QuickRow(
                f"`{command} FILE` start, to its read of FILE",
                "10-goroutine dump",
                f"{start:.3f} s (whole process {whole:.3f} s)",
                "—",
                f"{start:.3f} s (bare `python -c pass`: {bare:.3f} s)",
                f"≤ {START_TARGET_S} s before reading",
                start <= START_TARGET_S,
            )
        )
    return rows


def markdown(rows: list[QuickRow], pairs: int) -> str:
    go_version = subprocess.run([go_binary(), "version"], capture_output=True, text=True, check=True).stdout.strip()
    header = (
        f"Measured at commit {commit_id()} on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores "
        f"({platform.machine()}), Python {platform.python_version()}, {go_version}; median of {pairs} alternated "
        "pairs, whole processes unless marked in-process, with bytecode cached as installed (`make bench-quick`)."
    )
    lines = [
        "| work | input | leaksleuth | go tool pprof | measured | target | met |",
        "|---|---|---|---|---|---|---|",
        *(row.markdown() for row in rows),
    ]
    return f"{header}\n\n" + "\n".join(lines)


def write_readme(text: str) -> None:
    start, end = "<!-- bench-quick:start -->", "<!-- bench-quick:end -->"
    readme = README.read_text()
    if start not in readme or end not in readme:
        raise SystemExit(f"bench: README has no {start} / {end} markers")
    head, _, rest = readme.partition(start)
    _, _, tail = rest.partition(end)
    README.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    if args.write_readme and commit_id().endswith("+changes"):
        raise SystemExit("bench: commit src/ and bench/ first: the README's numbers must belong to a commit")
    OUT.mkdir(exist_ok=True)
    as_installed()
    rows: list[QuickRow] = []
    for part in (heap_rows, dump_rows, start_rows):
        print(f"bench-quick: {part.__name__} …", file=sys.stderr, flush=True)
        rows.extend(part(args.pairs))
    text = markdown(rows, args.pairs)
    print(text)
    (OUT / "quick.md").write_text(text + "\n")
    if args.write_readme:
        write_readme(text)


if __name__ == "__main__":
    main()
