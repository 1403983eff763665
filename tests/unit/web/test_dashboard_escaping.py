"""Every dashboard page shows a target's strings as text: a service, a URL, a function, a file, an error, an alert
label, a pod name and a self-healing reason that close a ``<script>`` and open an ``<img onerror>`` reach every page
(fleet, rows, instance, flame graph, diff, captures & actions, one capture, login) as text, and a self-healing
decision is listed on the Captures & actions page with its pod, action, result, reason and capture."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leaksleuth.app.capture import AlertService
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.formats.pprof_write import write_pprof
from leaksleuth.model.heap_report import HeapSiteEvidence
from leaksleuth.model.report import Suspect, TargetReport
from leaksleuth.model.views import InstanceFacts
from leaksleuth.store.db import NewSnapshot, Store, open_store
from leaksleuth.web.app import create_app
from leaksleuth.web.dashboard import mount_pages
from tests.conftest import CAPTURES
from tests.support.renamed import renamed

HOSTILE = '</script><img src=x onerror="alert(1)">'
RAW = re.compile(r"<img", re.IGNORECASE)  # what an unescaped HOSTILE leaves in a page (HTML or script)
SHOWN = ("&lt;img src=x", "\\u003cimg src=x", "&amp;lt;img")  # escaped for HTML, inside JSON in a script, twice
URL = "http://127.0.0.1:7/x"
HOSTILE_URL = f"http://127.0.0.1:8/{HOSTILE}"


def _heap(capture: str) -> bytes:
    return write_pprof(renamed(parse_pprof((CAPTURES / capture).read_bytes()), "main.leakyCache", HOSTILE))


def _verdict(url: str) -> dict[str, Any]:
    evidence = HeapSiteEvidence(site=HOSTILE, kind=HOSTILE, kind_evidence=HOSTILE, advice=HOSTILE)
    suspect = Suspect("heap", HOSTILE, HOSTILE, f"/src/{HOSTILE}/main.go", 12, 0.97, HOSTILE, evidence)
    report = TargetReport(url, "error", 3, HOSTILE, [suspect], instance=InstanceFacts(service=HOSTILE))
    return report.to_json()


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[tuple[TestClient, Store, dict[str, int]]]:
    store = open_store(str(tmp_path / "store"))
    ids = {}
    for url in (URL, HOSTILE_URL):
        target = store.target_id(url, service=HOSTILE, labels={"pod": HOSTILE})
        for n, capture in enumerate(("heapkinds.heap.pb.gz", "heapkinds.heap.grown.pb.gz")):
            store.record_round(
                target,
                1_800_000_000.0 + 10 * n,
                [NewSnapshot("heap", "pprof", _heap(capture))],
                {"goroutines": 10.0 + n, "heap_inuse": 1e6 * (n + 1)},
                status="error",
                error=HOSTILE,
            )
        store.record_verdicts("replica-" + HOSTILE, 1_800_000_030.0, [(url, "leaking", 0.97, _verdict(url))])
        ids[url] = target
    alert = store.claim_report("alert", "fingerprint@start", URL)
    assert alert is not None
    document = {"schema": "leaksleuth/report@1", "targets": [_verdict(URL)], "error": HOSTILE}
    store.save_report(alert, {**document, "alert": {"labels": {"alertname": HOSTILE, "pod": HOSTILE}}}, 0.97)
    decision = store.claim_report("heal", "heal:decision", "")
    assert decision is not None
    entry = {
        "action": "quarantine",
        "at": "2027-01-15T08:00:00Z",
        "namespace": "prod",
        "pod": HOSTILE,
        "reason": f"would quarantine: leak verdict 0.97: {HOSTILE}",
        "report_id": alert,
        "result": "dry-run",
        "trigger": "alert",
        "workload": f"prod/deployment/{HOSTILE}",
    }
    store.save_report(decision, entry, 0.0, target=f"prod/{HOSTILE}")
    ids["alert"], ids["decision"] = alert, decision
    service = AlertService(store, token=None)
    app = create_app(service)
    mount_pages(app, service, None)
    with TestClient(app) as client:
        yield client, store, ids
    store.close()


def _page(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.text[:300])
    return response.text


def test_every_page_shows_a_target_s_strings_as_text(filled: tuple[TestClient, Store, dict[str, int]]) -> None:
    client, store, ids = filled
    paths = ["/", "/fleet/rows", "/?q=script", "/captures", f"/captures/{ids['alert']}", f"/login?next=/{HOSTILE}"]
    for url in (URL, HOSTILE_URL):
        heap = store.snapshots(target=url, kind="heap", newest_first=False)
        target = ids[url]
        paths += [f"/instance/{target}", f"/instance/{target}/flame?snapshot={heap[-1].id}"]
        paths += [f"/instance/{target}/flame?snapshot={heap[-1].id}&base={heap[0].id}"]
    for path in paths:
        page = _page(client, path)
        assert RAW.search(page) is None, (path, page[max(0, RAW.search(page).start() - 200) :][:400])  # type: ignore[union-attr]
        if not path.startswith("/login"):  # the login page shows no target string, only where it goes next
            assert any(shown in page for shown in SHOWN), path  # the string is there, as text


def test_the_captures_page_lists_self_healing_decisions(filled: tuple[TestClient, Store, dict[str, int]]) -> None:
    client, _, ids = filled
    page = _page(client, "/captures")
    (row,) = re.findall(r'<tr class="heal-action" data-result="dry-run">(.*?)</tr>', page, re.DOTALL)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
    escaped = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    assert cells[1:] == [
        f"prod/{escaped}",
        f"prod/deployment/{escaped}",
        "alert",
        "quarantine",
        "dry-run",
        f"would quarantine: leak verdict 0.97: {escaped}",
        f"#{ids['alert']}",
    ]
    assert f'<a href="/captures/{ids["alert"]}">' in row  # the capture it acted on
    assert client.get(f"/captures/{ids['decision']}").status_code == 404  # a decision is not a capture report
