"""Run real Go programs from testdata/go on loopback for live tests (bounded waits, always cleaned up)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

GO_MODULE = ROOT / "testdata" / "go"


def build(go: str, package: str, out_dir: Path) -> Path:
    binary = out_dir / package.replace("/", "_")
    subprocess.run([go, "build", "-o", str(binary), f"./{package}"], cwd=GO_MODULE, check=True, timeout=300)
    return binary


@contextlib.contextmanager
def running(command: list[str], *, ready_timeout: float = 20.0) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start a harness program, wait for its ``LISTEN host:port`` and ``READY`` lines, yield (process, address)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address = ""
        deadline = time.monotonic() + ready_timeout
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"{command} exited early: {process.stderr.read() if process.stderr else ''}")
            if line.startswith("LISTEN "):
                address = line.split()[1]
            if line.strip() == "READY":
                break
        else:
            raise RuntimeError(f"{command} not ready within {ready_timeout}s")
        yield process, address
    finally:
        process.kill()
        process.wait(timeout=10)


def marker_line(source: Path, marker: str) -> int:
    """Line number of the ``// LEAK: <marker>`` comment (the line leaksleuth must name)."""
    for number, text in enumerate(source.read_text().splitlines(), 1):
        if f"// LEAK: {marker}" in text:
            return number
    raise AssertionError(f"no '// LEAK: {marker}' in {source}")
