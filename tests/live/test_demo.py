"""``leaksleuth demo`` (what ``make demo`` runs): the service on the demo fleet, its dashboard URL printed, and in
Chromium the goroutine-leak instance flagged with its file:line and its goroutine chart rising (screenshots kept
under pytest's tmp dir)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from leaksleuth.cli import demo
from tests.support.browser import chromium
from tests.support.prometheus_live import free_port, wait_for

SOURCE = Path(demo.__file__).parent / "demo_service" / "main.go"


def _leak_line() -> int:
    lines = SOURCE.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if "blocks forever once the caller has given up" in text)


def _dashboard_url(process: subprocess.Popen[str], seconds: float = 300.0) -> tuple[str, dict[str, str]]:
    """The printed dashboard URL and each instance's mode, read from the demo's stdout (bounded in time)."""
    assert process.stdout is not None
    modes: dict[str, str] = {}
    deadline = time.monotonic() + seconds  # the first run builds the demo service
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"demo exited: {process.stderr.read() if process.stderr else ''}")
        if found := re.match(r"\s+(http://\S+)\s+\((\S+)\)", line):
            modes[found.group(2)] = found.group(1)
        if line.startswith("dashboard: "):
            return line.split()[1], modes
    raise AssertionError("no dashboard URL printed")


def test_demo_serves_the_dashboard_with_the_leak_flagged(go: str, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "leaksleuth", "demo", "--listen", f"127.0.0.1:{port}", "--interval", "1s"]
    command += ["--duration", "240s", "--store", str(tmp_path / "store")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url, modes = _dashboard_url(process)
        assert url == f"http://127.0.0.1:{port}/" and set(modes) == {"goroutine-leak", "heap-leak", "healthy"}
        leaky = modes["goroutine-leak"]
        pattern = rf'data-target="{re.escape(leaky)}" data-verdict="leaking">\s*<td><a href="(/instance/\d+)"'
        found: list[str] = []

        def flagged() -> bool:
            match = re.search(pattern, httpx.get(f"{url}fleet/rows", timeout=5).text)
            found[:] = [match.group(1)] if match else []
            return bool(found) and len(httpx.get(f"{url}{found[0][1:]}/chart.json", timeout=5).json()["times"]) >= 8

        wait_for(flagged, timeout=120, what="the goroutine-leak instance flagged, with 8 rounds")
        shots = tmp_path / "screenshots"
        shots.mkdir()
        with chromium(width=1200, height=720) as browser:
            page = browser.new_page()
            page.goto(url)
            row = page.locator(f'tr.instance[data-target="{leaky}"]')
            assert row.get_attribute("data-verdict") == "leaking"
            assert f"main.go:{_leak_line()}" in row.inner_text()
            page.screenshot(path=shots / "demo-fleet.png")
            row.locator("a").click()
            page.wait_for_selector("body[data-charts-ready]")
            goroutines = page.evaluate("window.leaksleuthCharts.goroutines.data[1].filter(v => v != null)")
            assert len(goroutines) >= 8 and goroutines[-1] > goroutines[0] * 1.5  # the chart rises
            assert f"main.go:{_leak_line()}" in page.locator(".suspect").first.inner_text()
            page.screenshot(path=shots / "demo-instance.png")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode == 0
    for instance in modes.values():  # SIGTERM stops the demo's Go processes too (uvicorn re-raises the signal)
        with pytest.raises(httpx.TransportError):
            httpx.get(instance, timeout=2)
