"""Replicas dividing targets: rendezvous hashing over the members alive in a (real, SQLite) store."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from leaksleuth.app.membership import Membership
from leaksleuth.model.target import Target, rendezvous_owner
from leaksleuth.store.db import Store, open_store

URLS = [f"http://10.0.{i // 250}.{i % 250}:6060" for i in range(3000)]


def test_rendezvous_spreads_targets_and_a_leaving_member_moves_only_its_own() -> None:
    members = ["a", "b", "c"]
    owners = {url: rendezvous_owner(url, members) for url in URLS}
    share = Counter(owners.values())
    assert set(share) == set(members) and min(share.values()) > 0.28 * len(URLS)  # about a third each
    after = {url: rendezvous_owner(url, ["a", "c"]) for url in URLS}
    moved = [url for url in URLS if owners[url] != after[url]]
    assert moved and all(owners[url] == "b" for url in moved)  # only b's targets moved, all of them
    assert rendezvous_owner(URLS[0], reversed(members)) == owners[URLS[0]]  # the order members are read in
    assert rendezvous_owner(URLS[0], []) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(str(tmp_path / "store"))


def test_every_target_has_exactly_one_owner_and_a_silent_member_loses_its_share(store: Store) -> None:
    clock = Clock()
    replicas = [Membership(store, name, interval=10.0, clock=clock) for name in ("r1", "r2", "r3")]
    for replica in replicas:
        replica.beat()
    for replica in replicas:
        replica.beat()  # every one now reads all three
    targets = [Target(url) for url in URLS[:300]]
    owners = [[r.member for r in replicas if r.owns(t)] for t in targets]
    assert all(len(found) == 1 for found in owners)
    assert {found[0] for found in owners} == {"r1", "r2", "r3"}

    # r3 stops heartbeating; the others beat every half interval (5 s) and its 15 s lease runs out
    silent_share = [t for t, found in zip(targets, owners, strict=True) if found == ["r3"]]
    for _ in itertools.count():
        clock.now += 5.0
        for replica in replicas[:2]:
            replica.beat()
        if all(any(r.owns(t) for r in replicas[:2]) for t in silent_share):
            break
    assert clock.now - 1_000.0 <= 20.0  # within 2 intervals of its last heartbeat
    assert not any(replicas[2].owns(t) for t in targets)  # its own view: it lost contact for longer than a lease
    assert all(sum(r.owns(t) for r in replicas) == 1 for t in targets)


def test_a_replica_leaving_hands_over_at_the_next_heartbeat(store: Store) -> None:
    clock = Clock()
    first, second = (
        Membership(store, "r1", interval=10.0, clock=clock),
        Membership(store, "r2", interval=10.0, clock=clock),
    )
    first.beat(), second.beat(), first.beat()
    assert first.members == ["r1", "r2"]
    store.leave("r2")
    assert first.beat() == ["r1"]  # no waiting for the lease
    assert all(first.owns(Target(url)) for url in URLS[:50])
