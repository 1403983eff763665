"""Three ``serve --watch --scale-out`` replicas on one PostgreSQL (Debian's) divide real Go services: each target
watched by exactly one replica, and a replica killed with SIGKILL (no goodbye, its lease simply stops) has its
targets picked up by the others within 2 heartbeat intervals plus the round that scrapes them."""

from __future__ import annotations

import contextlib
import re
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.golive import running
from tests.support.postgres_live import postgres_server
from tests.support.prometheus_live import wait_for
from tests.support.serve_live import AUTH, serving_watch

TARGETS = 5
INTERVAL = 1.0


def _watched(url: str) -> set[str]:
    """The targets a replica watches now: its leaksleuth_target_up series (departed targets leave /metrics)."""
    text = httpx.get(f"{url}/metrics", headers=AUTH, timeout=5).text
    return {
        sample.labels["target"]
        for family in text_string_to_metric_families(text)
        if family.name == "leaksleuth_target_up"
        for sample in family.samples
    }


def _members(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers=AUTH, timeout=5).text
    return next(
        s.value for f in text_string_to_metric_families(text) if f.name == "leaksleuth_watch_members" for s in f.samples
    )


def _divided(replicas: list[str], urls: set[str], checks: int = 3) -> dict[str, set[str]]:
    """Every target watched by exactly one replica, ``checks`` times in a row a round apart (or AssertionError)."""
    shares = {}
    for _ in range(checks):
        shares = {replica: _watched(replica) for replica in replicas}
        union = set().union(*shares.values())
        assert union == urls, f"unwatched {urls - union}, unknown {union - urls}"
        assert sum(len(share) for share in shares.values()) == len(urls), f"watched twice: {shares}"
        time.sleep(INTERVAL)
    return shares


def test_three_replicas_watch_every_target_once_and_take_over_a_killed_ones(goleaks: Path, tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        addresses = [
            stack.enter_context(running([str(goleaks), "-mode", "worker-pool", "-every", "50ms"]))[1]
            for _ in range(TARGETS)
        ]
        urls = {f"http://{address}" for address in addresses}
        (tmp_path / "targets.txt").write_text("".join(f"{url} service=checkout\n" for url in sorted(urls)))
        database = stack.enter_context(postgres_server())
        blobs = f"file://{tmp_path / 'blobs'}"
        replicas, processes = [], []
        for number in (1, 2, 3):
            home = tmp_path / f"r{number}"
            home.mkdir()
            url, process = stack.enter_context(
                serving_watch(
                    home,
                    *("--scale-out", "--replica-id", f"r{number}", "--blobs", blobs),
                    *("--targets-file", str(tmp_path / "targets.txt"), "--interval", f"{INTERVAL}s"),
                    store=database,
                )
            )
            replicas.append(url)
            processes.append(process)

        def settled() -> bool:
            try:
                return all(_members(r) == 3 for r in replicas) and bool(_divided(replicas, urls, checks=1))
            except AssertionError:
                return False

        wait_for(settled, timeout=60, interval=0.5, what="the targets divided among three replicas")
        shares = _divided(replicas, urls)  # and it holds
        for replica in replicas:  # any replica's pages show every target, with a verdict (its own or a stored one)
            rows = httpx.get(f"{replica}/fleet/rows", headers=AUTH, timeout=5).text
            verdicts = re.findall(r'<tr class="instance" data-target="([^"]+)" data-verdict="([^"]+)"', rows)
            assert {url for url, _ in verdicts} == urls and "not watched" not in {word for _, word in verdicts}
            assert rows.count('class="muted judged-by"') == len(urls) - len(shares[replica])
        victim = max(replicas, key=lambda r: len(shares[r]))  # the one with most to hand over
        assert shares[victim], shares
        processes[replicas.index(victim)].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        survivors = [r for r in replicas if r != victim]
        wait_for(lambda: all(_members(r) == 2 for r in survivors), timeout=30, interval=0.1, what="the lease lost")
        lost = time.monotonic() - killed

        def taken_over() -> bool:
            try:
                return bool(_divided(survivors, urls, checks=1))
            except AssertionError:
                return False

        wait_for(taken_over, timeout=30, interval=0.2, what="the killed replica's targets picked up")
        picked_up = time.monotonic() - killed
        _divided(survivors, urls)  # and it holds: exactly once between the two
        # the lease (1.5 intervals) runs out and a heartbeat (every 0.5) reads it: 2 intervals; the members gauge is
        # set at the end of a round (+1), the targets are scraped in the round after (+1), and this machine is busy
        assert lost <= 3 * INTERVAL + 1.0, f"membership changed after {lost:.1f} s"
        assert picked_up <= 4 * INTERVAL + 4.0, f"picked up after {picked_up:.1f} s"
        print(f"killed replica: out of the membership after {lost:.1f} s, its {len(shares[victim])} targets watched")
        print(f"by the others after {picked_up:.1f} s (interval {INTERVAL:g} s)")
