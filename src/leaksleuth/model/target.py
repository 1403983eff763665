"""A target: the base URL of a Go service that mounts net/http/pprof, its service (peers are compared within one) and
labels. Pure: discovery sources in ``collect`` and ``integrations`` produce these, the app layer watches them."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from leaksleuth.httpio import base_url


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # base URL: scheme://host:port (a path prefix is kept when pprof is mounted under one)
    service: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


# a discovery source: asked every round (at most every refresh), returns the targets it knows now
TargetSource = Callable[[], Awaitable[list[Target]]]


def normalize_url(url: str) -> str:
    """Accept ``host:port`` and URLs with a trailing ``/debug/pprof/``; return ``scheme://host:port[/prefix]``."""
    return base_url(url, suffixes=("/debug/pprof",), what="a target", example="http://10.0.0.7:6060")


def make_target(url: str, service: str = "", labels: dict[str, str] | None = None) -> Target:
    return Target(normalize_url(url), service, tuple(sorted((labels or {}).items())))


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based
    count: int

    def keeps(self, target: Target) -> bool:
        digest = hashlib.sha256(target.url.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def rendezvous_owner(url: str, members: Iterable[str]) -> str | None:
    """Highest-random-weight hashing: the member with the highest hash of (member, url) owns the target. Every
    replica that sees the same members picks the same owner, and a member leaving moves only its own targets."""
    best: tuple[int, str] | None = None
    for member in members:
        weight = int.from_bytes(hashlib.sha256(f"{member}\0{url}".encode()).digest()[:8], "big")
        if best is None or (weight, member) > best:
            best = (weight, member)
    return None if best is None else best[1]


def dedupe(targets: Iterable[Target]) -> list[Target]:
    """One target per URL; a later entry with a service or labels fills in what an earlier bare URL lacked."""
    merged: dict[str, Target] = {}
    for target in targets:
        known = merged.get(target.url)
        if known is None or (not known.service and target.service) or (not known.labels and target.labels):
            merged[target.url] = target
    return list(merged.values())
