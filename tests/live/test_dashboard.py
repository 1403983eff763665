"""The dashboard in Debian's Chromium (Playwright): real Go services watched by a real ``serve --watch``.

Fleet -> instance -> flame graph, a diff picked on the chart, live updates after a round, the token required, and a
hostile service name shown as text. Screenshots are kept as test artifacts under pytest's tmp dir
(``dashboard-screenshots``), one per step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from tests.support.browser import chromium
from tests.support.golive import GO_MODULE, build, marker_line, running
from tests.support.prometheus_live import wait_for
from tests.support.serve_live import AUTH, TOKEN, serving_watch

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

HOSTILE = '<img src=x onerror="alert(1)">'
LEAK_LINE = marker_line(GO_MODULE / "goleaks" / "main.go", "timeout-send")


@dataclass
class Fleet:
    url: str
    leaky: str  # its URL
    page: str  # its instance page
    shots: Path


@pytest.fixture(scope="module")
def fleet(go: str, goleaks: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    heapleak = build(go, "heapleakmap", tmp_path_factory.mktemp("bin"))
    work = tmp_path_factory.mktemp("serve")
    with (
        running([str(goleaks), "-mode", "timeout-send", "-every", "10ms"]) as (_, leaky),
        running([str(goleaks), "-mode", "worker-pool", "-every", "10ms"]) as (_, healthy),
        running([str(heapleak)]) as (_, heap),
    ):
        targets = [
            {"url": f"http://{leaky}", "service": "checkout"},
            {"url": f"http://{healthy}", "service": "checkout"},
            {"url": f"http://{heap}", "service": HOSTILE},
        ]
        (work / "targets.yaml").write_text(yaml.safe_dump({"targets": targets}))
        with serving_watch(work, "--targets-file", str(work / "targets.yaml"), "--interval", "2s") as (url, _):
            leaky_id: list[str] = []

            def ready() -> bool:
                rows = httpx.get(f"{url}/fleet/rows", headers=AUTH, timeout=5).text
                found = re.search(
                    rf'data-target="http://{re.escape(leaky)}" data-verdict="leaking">\s*<td><a href="/instance/(\d+)"',
                    rows,
                )
                if found is None:
                    return False
                leaky_id[:] = [found.group(1)]
                chart = httpx.get(f"{url}/instance/{found.group(1)}/chart.json", headers=AUTH, timeout=5).json()
                return len(chart["heap"]) >= 4

            wait_for(ready, timeout=120, what="a leaking instance with 4 heap profiles")
            (work / "screenshots").mkdir()
            yield Fleet(url, f"http://{leaky}", f"/instance/{leaky_id[0]}", work / "screenshots")


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    with chromium() as context:
        yield context


DIALOGS: list[str] = []  # an XSS would open one


@pytest.fixture(autouse=True)
def no_dialogs() -> Iterator[None]:
    DIALOGS.clear()
    yield
    assert not DIALOGS


def _signed_in(browser: BrowserContext, fleet: Fleet) -> Page:
    page = browser.new_page()
    page.on("dialog", lambda dialog: (DIALOGS.append(dialog.message), dialog.dismiss()))
    page.goto(f"{fleet.url}/")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#fleet-table")
    return page


def test_the_token_is_required(fleet: Fleet, browser: BrowserContext) -> None:
    page = browser.new_page()
    page.goto(f"{fleet.url}{fleet.page}")
    assert page.url == f"{fleet.url}/login?next={fleet.page}"  # pages send a browser to sign in
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    assert page.text_content("#login-error") == "Wrong token."
    for path in ("/fleet/rows", "/events", f"{fleet.page}/chart.json", "/snapshots/1"):
        assert httpx.get(f"{fleet.url}{path}", timeout=5).status_code == 401, path  # scripts get 401
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-charts-ready]")
    assert page.url == f"{fleet.url}{fleet.page}"  # back where it was going
    cookie = next(c for c in browser.cookies() if c["name"] == "leaksleuth_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
    page.screenshot(path=fleet.shots / "signed-in.png")
    page.goto(f"{fleet.url}/logout")
    page.goto(f"{fleet.url}/")
    assert "/login" in page.url


def test_fleet_to_instance_to_flame_graph(fleet: Fleet, browser: BrowserContext) -> None:
    page = _signed_in(browser, fleet)
    row = page.locator(f'tr.instance[data-target="{fleet.leaky}"]')
    assert row.get_attribute("data-verdict") == "leaking"
    assert f"main.go:{LEAK_LINE}" in row.inner_text() and "main.timeoutSend.func1" in row.inner_text()
    assert row.locator("svg.spark").count() == 2  # goroutines and heap sparklines
    services = page.locator("tbody.service").evaluate_all("nodes => nodes.map(n => n.dataset.service)")
    assert sorted(services) == sorted(["checkout", HOSTILE])  # grouped by service; the hostile name as text
    assert page.locator("tbody.service img").count() == 0  # ... not as an element
    page.screenshot(path=fleet.shots / "fleet.png", full_page=True)

    row.locator("a").click()
    page.wait_for_selector("body[data-charts-ready]")
    assert page.locator("#charts canvas").count() >= 4  # goroutines, heap in use, RSS, GC cycles
    first = page.locator(".suspect").first
    assert f"main.go:{LEAK_LINE}" in first.inner_text() and "leaking" in page.text_content("#verdict")
    assert page.locator("#buckets tbody tr").count() >= 1
    page.screenshot(path=fleet.shots / "instance.png", full_page=True)

    heap_row = page.locator("#downloads tbody tr", has=page.locator("td", has_text=re.compile("^heap$"))).first
    heap_row.locator("a", has_text="flame graph").click()
    page.wait_for_function("document.querySelectorAll('#chart .frame').length > 3")
    assert "heap" in page.title() and page.locator("#legend").count() == 0  # one profile, not a diff
    page.screenshot(path=fleet.shots / "flame.png")


def test_a_click_on_a_row_survives_a_round_refreshing_the_rows(fleet: Fleet, browser: BrowserContext) -> None:
    """The rows are re-rendered after every round; a press that straddles one (mousedown, the new rows, mouseup)
    still follows the link it pressed, instead of the click landing on no link."""
    page = _signed_in(browser, fleet)
    link = page.locator(f'tr.instance[data-target="{fleet.leaky}"] a')
    box = link.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    before = int(page.get_attribute("#live", "data-round") or 0)
    with page.expect_response(lambda response: "/fleet/rows" in response.url, timeout=30_000):
        page.wait_for_function(f"Number(document.getElementById('live').dataset.round || 0) > {before}")
    page.wait_for_timeout(300)  # the fetched rows are in hand: without the hold they replace the pressed link now
    page.mouse.up()
    page.wait_for_url(f"{fleet.url}{fleet.page}", timeout=10_000)
    page.wait_for_selector("body[data-charts-ready]")


def test_a_diff_picked_on_the_chart(fleet: Fleet, browser: BrowserContext) -> None:
    page = _signed_in(browser, fleet)
    page.goto(f"{fleet.url}{fleet.page}")
    page.wait_for_selector("body[data-charts-ready]")
    chart = page.locator("#chart-heap_inuse .u-over")
    box = chart.bounding_box()
    assert box is not None
    for which in (0, -1):  # the oldest heap profile, then the newest, clicked where the chart draws them
        x = page.evaluate(
            "([which]) => { const u = window.leaksleuthCharts.heap_inuse;"
            " const heap = JSON.parse(document.getElementById('chart-data').textContent).heap;"
            " return u.valToPos(heap.at(which)[0], 'x'); }",
            [which],
        )
        chart.click(position={"x": max(3.0, min(box["width"] - 3, x)), "y": box["height"] / 2})
    diff = page.locator("#diff-link")
    href = diff.get_attribute("href")
    assert href is not None and "&base=" in href
    page.screenshot(path=fleet.shots / "picked.png")
    diff.click()
    page.wait_for_function("document.querySelectorAll('#chart .frame').length > 3")
    assert "grew" in page.text_content("#legend")  # a diff flame graph: growth red, shrink blue
    assert "−" in page.title()
    page.screenshot(path=fleet.shots / "diff.png")


def test_pages_update_live_after_a_round(fleet: Fleet, browser: BrowserContext) -> None:
    page = _signed_in(browser, fleet)
    before = int(page.get_attribute("#counts", "data-round") or 0)
    page.wait_for_function(f"Number(document.getElementById('counts').dataset.round) > {before}", timeout=30_000)
    assert "live off" not in (page.get_attribute("#live", "class") or "")  # the SSE stream is open
    page.goto(f"{fleet.url}{fleet.page}")
    page.wait_for_selector("body[data-charts-ready]")
    points = page.evaluate("window.leaksleuthCharts.goroutines.data[0].length")
    page.wait_for_function(f"Number(document.body.dataset.rounds || 0) > {points}", timeout=30_000)
