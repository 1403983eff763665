"""Network buffers per node, for real: Prometheus (Debian package, loopback) scrapes a real prometheus-node-exporter
(sockstat collector only) while testdata/go/sockhold fills kernel socket buffers over loopback connections it never
reads. A small control run first, then the big one; ``fleet --end`` judges each window.

node_sockstat_* is the whole kernel's (this network namespace): other live tests running at the same time can add a
little, which is why the control stays well below MIN_SOCKET_GROWTH and the big run far above the threshold.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from leaksleuth.analysis.series.netbuf import MIN_SOCKET_GROWTH, SOCKET_MEMORY_THRESHOLD
from tests.conftest import ROOT
from tests.support.golive import build, running
from tests.support.prometheus_live import (
    instant_value,
    running_node_exporter,
    running_prometheus,
    scrape_job,
    wait_for,
)

SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())
MiB = 1 << 20
WINDOW = 24  # seconds judged by each fleet run
BIG = ["-conns", "200", "-bytes", str(512 << 10), "-over", "20s"]  # ~100 MiB over 20 s
SMALL = ["-conns", "20", "-bytes", str(32 << 10), "-over", "5s"]  # ~1 MiB


@dataclass(slots=True)
class Runs:
    prometheus: str
    node: str  # node_exporter's instance label
    control_end: float
    big_end: float


def _tcp_mem(prometheus: str) -> float:
    found = instant_value(prometheus, 'node_sockstat_TCP_mem_bytes{job="node"}')
    return float(found[0]["value"][1]) if found else -1.0


def _sockhold(binary: Path, flags: list[str]) -> contextlib.AbstractContextManager[Any]:
    return running([str(binary), *flags, "-hold", "120s"], ready_timeout=30)


@pytest.fixture(scope="module")
def runs(go: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    workdir = tmp_path_factory.mktemp("netbuf")
    binary = build(go, "sockhold", workdir)
    with contextlib.ExitStack() as stack:
        exporter = stack.enter_context(running_node_exporter(workdir))
        node = exporter.url.removeprefix("http://")
        prometheus = stack.enter_context(running_prometheus(workdir, [scrape_job("node", [node])])).url
        wait_for(lambda: _tcp_mem(prometheus) >= 0, timeout=30, what="node_sockstat_TCP_mem_bytes in Prometheus")
        with _sockhold(binary, SMALL):
            time.sleep(WINDOW + 2)
            control_end = time.time()
        with _sockhold(binary, BIG):
            wait_for(lambda: _tcp_mem(prometheus) > 80 * MiB, timeout=60, what="socket memory above 80 MiB")
            time.sleep(3)
            big_end = time.time()
        yield Runs(prometheus, node, control_end, big_end)


def _fleet(runs: Runs, end: float, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "leaksleuth", "fleet", "--prometheus", runs.prometheus, "--selector"]
    command += ['{job="node"}', "--window", f"{WINDOW}s", "--step", "1s", "--baseline-window", "0"]
    command += ["--end", f"{end:.3f}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _nodes(runs: Runs, end: float) -> list[dict[str, Any]]:
    result = _fleet(runs, end, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    nodes: list[dict[str, Any]] = document["nodes"]
    return nodes


def test_growing_socket_memory_is_a_node_finding_with_its_numbers(runs: Runs) -> None:
    [node] = _nodes(runs, runs.big_end)
    assert node["node"] == runs.node and node["source"] == "node_sockstat_TCP_mem_bytes"
    [finding] = node["findings"]
    assert finding["class"] == "node-health" and finding["category"] == "socket-memory-growing"
    evidence = finding["evidence"]
    assert evidence["socket_memory_bytes"] > 80 * MiB > SOCKET_MEMORY_THRESHOLD
    assert evidence["rise_bytes"] > 40 * MiB and 0 < evidence["seconds"] <= WINDOW
    assert evidence["tcp_inuse"] >= 400  # both ends of sockhold's 200 connections
    assert evidence["sockets_used"] >= evidence["tcp_inuse"]


def test_the_small_control_run_stays_quiet(runs: Runs) -> None:
    [node] = _nodes(runs, runs.control_end)
    assert node["findings"] == [] and node["rise_bytes"] < MIN_SOCKET_GROWTH
    assert node["tcp_inuse"] >= 40


def test_the_table_and_the_gate(runs: Runs) -> None:
    """The text output has the node table; the finding is not a leak, so --fail-on does not trip on it."""
    result = _fleet(runs, runs.big_end, "--fail-on", "0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Node findings (not leaks)" in result.stdout and "socket-memory-growing" in result.stdout
    lower = _fleet(runs, runs.big_end, "--socket-memory-threshold", "10Gi")
    assert lower.returncode == 0 and "Node findings" not in lower.stdout
