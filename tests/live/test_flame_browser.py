"""The flame graph pages in Debian's Chromium (headless), driven over the DevTools protocol.

They must render, search must highlight matching frames, the console must stay free of errors, and a function named
``<script>alert(1)</script>`` must show up as text (no dialog, no extra script element).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket

from leaksleuth.analysis.heap.flame import flame_graph
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model import profile_ops
from leaksleuth.model.profile import Profile
from leaksleuth.report.flame import render_html
from tests.conftest import CAPTURES

XSS = "<script>alert(1)</script>"
BASE = CAPTURES / "heapkinds.heap.pb.gz"
GROWN = CAPTURES / "heapkinds.heap.grown.pb.gz"


class Page:
    """One Chromium tab over CDP: navigate, evaluate, and every console message, exception and dialog seen."""

    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=30)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, "the page did not load"
            self.events.append(json.loads(self.socket.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def problems(self) -> list[dict[str, Any]]:
        """Exceptions, dialogs (an ``alert`` would open one) and console or log errors seen so far."""
        return [event for event in self.events if _is_problem(event)]


def _is_problem(event: dict[str, Any]) -> bool:
    method, params = event.get("method"), event.get("params", {})
    if method in ("Runtime.exceptionThrown", "Page.javascriptDialogOpening"):
        return True
    if method == "Runtime.consoleAPICalled":
        return params.get("type") in ("error", "assert")
    return method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Headless Chromium on a loopback DevTools port; yields the page websocket URL."""
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: scripts/install-system-deps.sh installs it (make test runs it)"
    profile_dir = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile_dir}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, "chromium exited during start-up"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = httpx.get(f"http://127.0.0.1:{port}/json", timeout=10).json()
        yield next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    finally:
        process.kill()
        process.wait(timeout=10)


def write_page(path: Path, profile: Profile, title: str) -> str:
    path.write_text(render_html(flame_graph(profile), title=title), encoding="utf-8")
    return path.as_uri()


def test_profile_flame_graph_renders_zooms_and_searches(browser: str, tmp_path: Path) -> None:
    page = Page(browser)
    page.open(write_page(tmp_path / "heap.html", parse_pprof(BASE.read_bytes()), "heapkinds heap"))
    frames = page.evaluate("document.querySelectorAll('#chart .frame').length")
    assert frames > 10
    names = page.evaluate("[...document.querySelectorAll('#chart .frame')].map(e => e.textContent)")
    assert "main.allocSlices" in names and "runtime.main" in names
    page.evaluate("document.getElementById('search').value = 'alloc'")
    page.evaluate("document.getElementById('search').dispatchEvent(new Event('input'))")
    matched = page.evaluate("[...document.querySelectorAll('#chart .frame.match')].map(e => e.textContent)")
    assert matched and all("alloc" in name.lower() for name in matched)
    assert "main.allocSlices" in matched and "runtime.main" not in matched
    assert "% of the total" in page.evaluate("document.getElementById('match-info').textContent")
    # zoom: click a frame, it spans the whole width; Escape goes back
    page.evaluate(
        "[...document.querySelectorAll('#chart .frame')].find(e => e.textContent === 'main.allocSlices').click()"
    )
    widths = page.evaluate(
        "[...document.querySelectorAll('#chart .frame')].filter(e => e.textContent === 'main.allocSlices')"
        ".map(e => e.style.width)"
    )
    assert widths == ["100%"]
    assert "zoomed into main.allocSlices" in page.evaluate("document.getElementById('zoom-info').textContent")
    assert page.problems() == []


def test_diff_flame_graph_colours_growth_and_shrink(browser: str, tmp_path: Path) -> None:
    difference = profile_ops.diff(parse_pprof(GROWN.read_bytes()), parse_pprof(BASE.read_bytes()))
    page = Page(browser)
    page.open(write_page(tmp_path / "diff.html", difference, "heapkinds diff"))
    colours = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#chart .frame')]"
        ".map(e => [e.textContent, getComputedStyle(e).backgroundColor]))"
    )
    red, green, blue = rgb(colours["main.main.func1"])
    assert red > 200 and green < 160 and blue < 160  # the leaky handler grew: red
    assert "width: now + before" in page.evaluate("document.getElementById('legend').textContent")
    page.evaluate("window.leaksleuthFlame.search('leakyCache')")
    assert page.evaluate("document.querySelectorAll('#chart .frame.match').length") >= 1
    assert page.problems() == []
    # the other way round, the handler's cache entries are gone: a shrinking frame is blue, not red or grey
    shrunk = profile_ops.diff(parse_pprof(BASE.read_bytes()), parse_pprof(GROWN.read_bytes()))
    page.events.clear()  # open() waits for the next load event, not the first page's
    page.open(write_page(tmp_path / "shrink.html", shrunk, "heapkinds shrink"))
    shrinking = page.evaluate(
        "[...document.querySelectorAll('#chart .frame')].filter(e => e.textContent === 'main.main.func1')"
        ".map(e => getComputedStyle(e).backgroundColor)"
    )
    assert len(shrinking) == 1, "the shrinking handler is not drawn"
    red, green, blue = rgb(shrinking[0])
    assert blue > 200 and red < 100 and green < blue - 60  # hsl(215, 80%, 50%): all of it went
    assert page.problems() == []


def rgb(colour: str) -> tuple[int, int, int]:
    red, green, blue = (int(part) for part in colour.removeprefix("rgb(").rstrip(")").split(","))
    return red, green, blue


def test_hostile_function_name_is_text(browser: str, tmp_path: Path) -> None:
    profile = parse_pprof(BASE.read_bytes())
    functions = {f.id: replace(f, name=XSS) if f.name == "main.allocSlices" else f for f in profile.functions}
    locations = [
        replace(loc, lines=tuple(replace(line, function=functions[line.function.id]) for line in loc.lines))
        for loc in profile.locations
    ]
    hostile = replace(profile, functions=list(functions.values()), locations=locations)
    page = Page(browser)
    page.open(write_page(tmp_path / "xss.html", hostile, f"title {XSS}"))
    texts = page.evaluate("[...document.querySelectorAll('#chart .frame')].map(e => e.textContent)")
    assert XSS in texts
    assert page.evaluate("document.scripts.length") == 2
    assert page.evaluate("document.title") == f"title {XSS}"
    page.evaluate(f"window.leaksleuthFlame.search({json.dumps('<script>')})")
    assert page.evaluate("document.querySelectorAll('#chart .frame.match').length") == 1
    assert page.problems() == []  # in particular no Page.javascriptDialogOpening: alert(1) never ran
