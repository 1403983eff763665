"""Running ``leaksleuth serve --watch`` for live tests: a real process on a free loopback port, always stopped."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.prometheus_live import free_port, wait_for

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def serving_watch(
    tmp_path: Path, *args: str, stdout: int = subprocess.PIPE, store: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``serve --watch ARGS`` with the token and ``store`` (default: one in ``tmp_path``); yields (URL, process)."""
    port = free_port()
    (tmp_path / "token").write_text(TOKEN + "\n")
    command = [sys.executable, "-m", "leaksleuth", "serve", "--listen", f"127.0.0.1:{port}"]
    command += ["--token-file", str(tmp_path / "token"), "--store", store or str(tmp_path / "store")]
    command += ["--watch", *args]
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url, process), timeout=30, what="serve ready")
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=20)


def _healthy(url: str, process: subprocess.Popen[str]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"serve exited {process.returncode}: {process.stderr.read() if process.stderr else ''}")
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
