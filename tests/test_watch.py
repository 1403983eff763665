"""watch against real Go services and hostile targets: verdicts, isolation, exit codes, reports, kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from leaksleuth.collect.discovery import Discovery
from leaksleuth.collect.scraper import ScrapeConfig
from leaksleuth.collect.targets import make_target
from leaksleuth.collect.watch import WatchConfig, Watcher
from leaksleuth.formats import parse
from leaksleuth.store.db import open_store
from tests.conftest import ROOT
from tests.golive import GO_MODULE, build, marker_line, running
from tests.hostile import BEHAVIOURS, hostile_server

SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())
SOURCE = GO_MODULE / "goleaks" / "main.go"


@pytest.fixture(scope="module")
def goleaks(go: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(go, "goleaks", tmp_path_factory.mktemp("goleaks-watch"))


@pytest.fixture(scope="module")
def heap_programs(go: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("heap-watch")
    return {name: build(go, name, out) for name in ("heapleakslice", "heaplru")}


@pytest.mark.live
def test_heap_leak_and_bounded_cache(heap_programs: dict[str, Path], tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        urls = {
            name: f"http://{stack.enter_context(running([str(binary), '-lifetime', '60s']))[1]}"
            for name, binary in heap_programs.items()
        }
        _, targets = _watch(list(urls.values()), tmp_path, rounds=24, heap_gc=True)
    leak = targets[urls["heapleakslice"]]["suspects"][0]
    source = GO_MODULE / "heapleakslice" / "main.go"
    assert (leak["kind"], Path(leak["file"]), leak["line"]) == ("heap", source, marker_line(source, "retained"))
    assert leak["confidence"] >= 0.8
    lru = targets[urls["heaplru"]]
    assert not [s for s in lru["suspects"] if s["confidence"] >= 0.5], lru["suspects"]
    assert lru["heap"]["snapshots_analysed"] == 24


@pytest.fixture(scope="module")
def services(goleaks: Path) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        yield {
            mode: f"http://{stack.enter_context(running([str(goleaks), '-mode', mode]))[1]}"
            for mode in ("timeout-send", "lock", "worker-pool")
        }


def _watch(targets: list[str], tmp_path: Path, rounds: int, **scrape: Any) -> tuple[Watcher, dict[str, Any]]:
    discovery = Discovery([make_target(url) for url in targets])
    config = ScrapeConfig(timeout=1.5, retries=0, max_body=4 << 20, **scrape)
    store = open_store(str(tmp_path / "store"))
    watcher = Watcher(discovery, config, WatchConfig(interval=0.4, max_rounds=rounds), store=store)
    report = asyncio.run(watcher.run())
    store.close()
    document = report.to_json()
    jsonschema.validate(document, SCHEMA)
    return watcher, {t["target"]: t for t in document["targets"]}


@pytest.mark.live
def test_leaks_named_healthy_quiet_and_bad_targets_isolated(services: dict[str, str], tmp_path: Path) -> None:
    with hostile_server() as hostile:
        bad = {name: f"{hostile}/{name}" for name in BEHAVIOURS}
        dead = "http://127.0.0.1:9"
        started = time.monotonic()
        _, targets = _watch([*services.values(), *bad.values(), dead], tmp_path, rounds=8)
        elapsed = time.monotonic() - started
    # every round is bounded by the per-request deadline, not by the slowest or endless target
    assert elapsed < 8 * (1.5 * 4 + 0.4) + 10
    send = targets[services["timeout-send"]]["suspects"][0]
    assert (Path(send["file"]), send["line"]) == (SOURCE, marker_line(SOURCE, "timeout-send"))
    assert send["confidence"] >= 0.8 and "runtime-proven" in send["evidence"]["used"]
    lock = targets[services["lock"]]["suspects"][0]
    assert (Path(lock["file"]), lock["line"]) == (SOURCE, marker_line(SOURCE, "lock")) and lock["confidence"] >= 0.8
    healthy = targets[services["worker-pool"]]
    assert healthy["status"] == "ok" and not [s for s in healthy["suspects"] if s["confidence"] >= 0.5]
    for url in services.values():
        assert targets[url]["snapshots"] == 8 and targets[url]["failed_rounds"] == 0
    assert targets[dead]["status"] == "unreachable" and "cannot connect" in targets[dead]["error"]
    expectations = {
        "status500": "HTTP 500",
        "html": "not a pprof profile",
        "garbage": "pprof",
        "endless": "cap",
        "slow": "timed out",
        "drip": "timed out",
    }
    for name, fragment in expectations.items():
        entry = targets[bad[name]]
        assert entry["status"] == "error", (name, entry)
        assert fragment in entry["error"], (name, entry["error"])
        assert entry["suspects"] == []


@pytest.mark.live
def test_store_keeps_every_round_and_gives_back_pprof_files(services: dict[str, str], tmp_path: Path, go: str) -> None:
    _watch([services["timeout-send"]], tmp_path, rounds=3)
    store = open_store(str(tmp_path / "store"))
    try:
        heaps = store.snapshots(kind="heap")
        assert len(heaps) == 3
        _, data = store.snapshot(heaps[0].id)
        path = tmp_path / "heap.pb.gz"
        path.write_bytes(data)
        result = subprocess.run([go, "tool", "pprof", "-raw", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0 and "inuse_space/bytes" in result.stdout
        assert {s.kind for s in store.snapshots()} >= {"goroutine", "goroutine-dump", "heap", "metrics"}
        goroutines = store.series(services["timeout-send"], ["goroutines"])["goroutines"]
        assert len(goroutines) == 3 and goroutines[-1][1] > goroutines[0][1]
    finally:
        store.close()
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "leaksleuth",
            "snapshots",
            "list",
            "--store",
            str(tmp_path / "store"),
            "--kind",
            "heap",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(listed.stdout)
    assert len(rows) == 3 and {row["kind"] for row in rows} == {"heap"}
    out = tmp_path / "got.pb.gz"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "leaksleuth",
            "snapshots",
            "get",
            str(rows[0]["id"]),
            "-o",
            str(out),
            "--store",
            str(tmp_path / "store"),
        ],
        check=True,
        capture_output=True,
    )
    result = subprocess.run([go, "tool", "pprof", "-top", str(out)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "flat%" in result.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "leaksleuth", "snapshots", "get", "999999", "--store", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 3 and "no snapshot 999999" in missing.stderr


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leaksleuth", "watch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.live
def test_cli_exit_codes_reports_and_json_lines(services: dict[str, str], tmp_path: Path) -> None:
    report, html = tmp_path / "r.json", tmp_path / "r.html"
    common = ["--interval", "0.4s", "--rounds", "6", "--store", str(tmp_path / "s"), "--quiet"]
    leaking = _cli(
        services["timeout-send"],
        services["worker-pool"],
        *common,
        "--report",
        str(report),
        "--html",
        str(html),
        "--json-lines",
        "--fail-on",
        "0.8",
    )
    assert leaking.returncode == 1, leaking.stderr
    events = [json.loads(line) for line in leaking.stdout.splitlines()]
    assert events and all(e["event"] == "finding" for e in events)
    first = events[0]
    assert first["target"] == services["timeout-send"] and first["line"] == marker_line(SOURCE, "timeout-send")
    for field in (
        "service",
        "category",
        "function",
        "file",
        "confidence",
        "goroutine_count",
        "blocked_minutes",
        "heap_inuse_bytes",
    ):
        assert field in first
    jsonschema.validate(json.loads(report.read_text()), SCHEMA)
    assert "main.timeoutSend.func1" in html.read_text()
    healthy = _cli(services["worker-pool"], *common, "--fail-on", "0.8")
    assert healthy.returncode == 0, healthy.stderr
    assert "1 target, 0 with a suspect" in healthy.stderr


def test_cli_usage_errors(tmp_path: Path) -> None:
    assert _cli("--no-store").returncode == 2
    bad_shard = _cli("http://127.0.0.1:9", "--shard", "3/2", "--no-store")
    assert bad_shard.returncode == 2 and "--shard" in bad_shard.stderr
    assert _cli("http://127.0.0.1:9", "--interval", "soon", "--no-store").returncode == 2


@pytest.mark.live
def test_kill_9_mid_round_leaves_a_usable_store(services: dict[str, str], tmp_path: Path) -> None:
    store_dir = tmp_path / "killed"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leaksleuth",
            "watch",
            services["timeout-send"],
            services["lock"],
            "--interval",
            "0.05s",
            "--store",
            str(store_dir),
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        count = 0
        while time.monotonic() < deadline and count < 40:
            time.sleep(0.3)
            with contextlib.suppress(sqlite3.Error):
                connection = sqlite3.connect(store_dir / "leaksleuth.db", timeout=1)
                count = connection.execute("select count(*) from snapshots").fetchone()[0]
                connection.close()
        assert count >= 40, "the watcher did not store enough snapshots in time"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    connection = sqlite3.connect(store_dir / "leaksleuth.db")
    assert connection.execute("pragma integrity_check").fetchone()[0] == "ok"
    connection.close()
    store = open_store(str(store_dir))
    try:
        rows = store.snapshots()
        assert len(rows) >= count
        for row in rows:
            _, data = store.snapshot(row.id)  # every committed snapshot's blob is complete and parses
            assert parse(data).format.value in ("pprof", "goroutine-dump", "prometheus")
    finally:
        store.close()
