"""A throwaway PostgreSQL server on loopback (Debian's postgresql package), for the store tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not candidates:
        raise RuntimeError("PostgreSQL server not installed: run scripts/install-system-deps.sh (package postgresql)")
    return candidates[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy-style URL ``postgresql://leaksleuth@127.0.0.1:PORT/postgres``."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="leaksleuth-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        as_user = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]  # sbin: not on every PATH
    port = _free_port()
    process = None
    try:
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "leaksleuth", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        process = subprocess.Popen(
            [
                *as_user,
                f"{bin_dir}/postgres",
                "-D",
                data,
                "-p",
                str(port),
                "-k",
                sockets,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if process.poll() is not None:
                raise RuntimeError(f"postgres exited: {process.stderr.read().decode() if process.stderr else ''}")
            time.sleep(0.1)
        else:
            raise RuntimeError("postgres did not start within 30 s")
        time.sleep(0.3)  # accepting TCP precedes accepting logins by a moment
        yield f"postgresql://leaksleuth@127.0.0.1:{port}/postgres"
    finally:
        if process is not None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            if process.poll() is None:
                process.kill()
        shutil.rmtree(root, ignore_errors=True)
