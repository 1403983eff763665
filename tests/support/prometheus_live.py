"""Start a real Prometheus / Alertmanager (Debian packages) on loopback for live tests, and backfill data.

Everything is bounded: readiness waits have deadlines, processes are always killed, data lives in temp dirs.
``make system-deps`` installs the packages (scripts/install-system-deps.sh).

    with running_prometheus(tmp_path, [scrape_job("api", ["127.0.0.1:1234"])]) as prom:
        prom.url  # http://127.0.0.1:NNNNN
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin")
    if not found:
        raise RuntimeError(
            f"{name} is not installed: run `make system-deps` (Debian packages prometheus, alertmanager)"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds (never loops forever)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


def scrape_job(
    name: str, targets: Sequence[str], *, labels: Mapping[str, str] | None = None, interval: str = "1s"
) -> dict[str, Any]:
    group: dict[str, Any] = {"targets": list(targets)}
    if labels:
        group["labels"] = dict(labels)
    return {"job_name": name, "scrape_interval": interval, "scrape_timeout": interval, "static_configs": [group]}


@dataclass(slots=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def _running(command: list[str], url: str, log: Path, *, ready_timeout: float) -> Iterator[Server]:
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(url, process, log)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{server.log_tail()}")
            return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200

        wait_for(ready, timeout=ready_timeout, what=f"{command[0]} ready at {url}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_prometheus(
    workdir: Path,
    scrape_configs: Sequence[Mapping[str, Any]] = (),
    *,
    rule_files: Sequence[Path] = (),
    alertmanagers: Sequence[str] = (),
    evaluation_interval: str = "1s",
    data_dir: Path | None = None,
    ready_timeout: float = 30.0,
) -> Iterator[Server]:
    """Prometheus on 127.0.0.1:<free port> with the given scrape jobs (and rules / Alertmanagers)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": evaluation_interval},
        "scrape_configs": [dict(job) for job in scrape_configs],
    }
    if rule_files:
        config["rule_files"] = [str(path) for path in rule_files]
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    data = data_dir or workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{free_port()}"
    command = [
        binary("prometheus"),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address={address}",
        "--storage.tsdb.retention.time=30d",
        "--log.level=warn",
    ]
    with _running(command, f"http://{address}", workdir / "prometheus.log", ready_timeout=ready_timeout) as server:
        yield server


@contextlib.contextmanager
def running_alertmanager(workdir: Path, config: Mapping[str, Any], *, ready_timeout: float = 30.0) -> Iterator[Server]:
    """Alertmanager on 127.0.0.1:<free port>, clustering off (it would otherwise listen on 0.0.0.0:9094)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    address = f"127.0.0.1:{free_port()}"
    command = [
        binary("prometheus-alertmanager"),
        f"--config.file={config_file}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address={address}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with _running(command, f"http://{address}", workdir / "alertmanager.log", ready_timeout=ready_timeout) as server:
        yield server


@contextlib.contextmanager
def running_node_exporter(workdir: Path, *, ready_timeout: float = 30.0) -> Iterator[Server]:
    """Debian's prometheus-node-exporter on 127.0.0.1:<free port>, only the sockstat collector (plus its own go_*)."""
    workdir.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{free_port()}"
    command = [
        binary("prometheus-node-exporter"),
        f"--web.listen-address={address}",
        "--collector.disable-defaults",
        "--collector.sockstat",
        "--log.level=warn",
    ]
    with _running(command, f"http://{address}", workdir / "node_exporter.log", ready_timeout=ready_timeout) as server:
        yield server


def backfill(openmetrics: str, data_dir: Path, workdir: Path) -> None:
    """Write OpenMetrics text (``name{labels} value unix_seconds`` lines, ending in ``# EOF``) as TSDB blocks.

    ``promtool tsdb create-blocks-from openmetrics``: Prometheus started on ``data_dir`` serves the history as if
    it had scraped it, so long windows (days) are tested without waiting for them.
    """
    source = workdir / "backfill.om.txt"
    source.write_text(openmetrics)
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def instant_value(url: str, promql: str) -> list[dict[str, Any]]:
    """Run an instant query directly (for readiness checks in tests): the raw ``result`` list."""
    response = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result
