"""Where a watch round's CPU goes: the steady-state fleet of ``fleet_bench`` under py-spy, rounds only.

    pip install py-spy   # not a dependency: a profiler for this bench, it needs ptrace (root or CAP_SYS_PTRACE)
    python bench/fleet_profile.py [--targets 300] [--history 5] [--rounds 8] [--interval 8]

The replay fleet and three real Go processes, as ``bench/run.py --only watch-fleet`` runs them, watched by the
same child; py-spy samples only the threads holding the GIL (``--gil``: the CPU that limits targets per core, not
the time spent waiting on sockets and fsync). Stacks of the pre-fill are left out. Prints the share of samples
per function, inclusive (a function and everything it calls) and by itself.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, ROOT
from fleet_bench import steady_state_child

PREFILL = "prefill"  # the pre-fill's coroutine: its stacks are not the rounds'
SHORTEN = (str(ROOT / "src") + "/", str(Path(PYTHON).parent.parent) + "/lib/python3.11/site-packages/")


def _name(frame: str) -> str:
    """``function (file:line)`` -> ``function (file)``, the paths shortened."""
    function, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for prefix in SHORTEN:
        path = path.removeprefix(prefix)
    return f"{function} ({path})" if where else function


def shares(raw: Path) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Samples of the rounds, and per function its inclusive and self samples (py-spy's raw, collapsed stacks)."""
    inclusive: collections.Counter[str] = collections.Counter()
    alone: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdecimal() or PREFILL in stack:
            continue
        count, frames = int(count_text), [_name(frame) for frame in stack.split(";")]
        total += count
        for name in set(frames):
            inclusive[name] += count
        alone[frames[-1]] += count
    return total, inclusive, alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=300)
    parser.add_argument("--history", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--interval", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("bench: py-spy is not installed (pip install py-spy)")
    with steady_state_child(args.targets, args.history, args.rounds, args.interval) as child:
        raw = Path(child[-1]).parent / "rounds.raw"
        command = [spy, "record", "--gil", "--rate", "200", "--format", "raw", "--output", str(raw), "--", *child]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        total, inclusive, alone = shares(raw)
    if not total:
        raise SystemExit("bench: py-spy recorded no samples of the rounds")
    print(f"{total} samples of {args.rounds} rounds of {args.targets} targets (GIL held), inclusive:")
    for name, count in inclusive.most_common(args.top):
        print(f"{100 * count / total:5.1f}%  {name}")
    print("\nself:")
    for name, count in alone.most_common(args.top // 2):
        print(f"{100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
