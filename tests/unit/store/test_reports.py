"""Reports in the store: list views read the summary kept beside a report (issue 12 item 4: 50 MB of annotations
made GET /reports take a second for 870 bytes), and claims that will never finish are released (item 3)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from leaksleuth.app.capture import AlertService, _summary, _thin
from leaksleuth.store.db import open_store


def test_list_views_read_summaries_not_documents(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s"))
    big = {"targets": [{"status": "ok", "suspects": [{"x": "y" * 1000}] * 500}], "alert": {"labels": {}}}
    saved = store.claim_report("alert", "fp@1", "http://10.0.0.7:6060")
    legacy = store.claim_report("alert", "fp@2", "http://10.0.0.8:6060")
    capturing = store.claim_report("alert", "fp@3", "http://10.0.0.9:6060", owner="host:1")
    assert saved and legacy and capturing
    big["alert"]["labels"]["alertname"] = "GoroutineLeak"
    store.save_report(saved, big, 0.9, summary=_thin(big))
    store.save_report(legacy, {"targets": [], "error": "old"}, 0.0)  # saved without a summary
    documents = {row.id: row.document for row in store.report_summaries()}
    assert len(str(documents[saved])) < 200  # the summary, not the 500 suspects
    assert documents[legacy] == {"targets": [], "error": "old"} and documents[capturing]["status"] == "capturing"
    rows = {row.id: _summary(row) for row in store.report_summaries()}
    whole = {row.id: _summary(row) for row in store.reports()}
    assert rows == whole  # a summary says what the whole document says
    assert rows[saved]["status"] == "done" and rows[saved]["alertname"] == "GoroutineLeak"
    assert rows[legacy]["status"] == "failed" and rows[capturing]["status"] == "capturing"
    store.close()


def test_orphaned_claims_are_released_at_startup(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s"))
    service = AlertService(store, token=None)
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead_owner = f"{service.owner.rpartition(':')[0]}:{int(exited.stdout)}"  # a server of this host, gone
    dead = store.claim_report("alert", "fp@dead", "http://10.0.0.7:6060", owner=dead_owner)
    ours = store.claim_report("alert", "fp@ours", "http://10.0.0.7:6060", owner=service.owner)
    legacy = store.claim_report("alert", "fp@legacy", "http://10.0.0.7:6060")
    elsewhere = store.claim_report("alert", "fp@else", "http://10.0.0.7:6060", owner="another-host:42")
    assert asyncio.run(service.recover()) == 3
    assert [row[0] for row in store.capturing_reports("alert")] == [elsewhere]  # another host's, still fresh
    released = {row.id for row in store.reports() if "serve stopped" in row.document.get("error", "")}
    assert {dead, ours, legacy} <= released
    again = store.claim_report("alert", "fp@dead", "http://10.0.0.7:6060", owner="another-host:43")
    assert again is not None  # its key is free again
    with store.engine.begin() as connection:  # an hour later, another host's claim is taken for orphaned too
        connection.execute(sa.text("UPDATE reports SET created_at = created_at - 7200"))
    assert asyncio.run(service.recover()) == 2
    store.close()
