"""What a scrape is asked for (`ScrapeConfig`, and the TLS it implies) and what it returns (`ScrapeResult`)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leaksleuth.collect import DEBUG2_THRESHOLD
from leaksleuth.collect.plan import PlanConfig
from leaksleuth.errors import ConfigError
from leaksleuth.httpio import reason
from leaksleuth.model.target import Target

if TYPE_CHECKING:
    from leaksleuth.formats import Parsed
    from leaksleuth.model.goroutines import GoroutineDump
    from leaksleuth.model.memstats import MemStats
    from leaksleuth.model.profile import Profile


@dataclass(slots=True)
class ScrapeConfig:
    timeout: float = 10.0  # total seconds per request, body included
    deadline: float | None = None  # total seconds for one target's scrape, retries included (None: no bound)
    retries: int = 2  # extra attempts after a transient failure
    backoff: float = 0.25  # first retry delay; doubles each time, with jitter
    max_body: int = 64 << 20
    max_decompressed: int | None = None  # what a body may inflate to (None: LEAKSLEUTH_MAX_DECOMPRESSED or 256 MiB)
    concurrency: int = 64
    debug2_threshold: int = DEBUG2_THRESHOLD
    heap_every: int = 1  # fetch the heap profile every N rounds (0: never)
    metrics: bool = True  # fetch /metrics (or /debug/vars)
    heap_gc: bool = False  # ask for a GC first (?gc=1): exact live heap, at the price of a collection
    plan: PlanConfig | None = None  # adaptive fetches per target (collect/plan.py); None: everything every round
    thread_parse_bytes: int = 256 << 10  # bodies this big are parsed in a thread, smaller ones (a few ms) right away
    headers: dict[str, str] = field(default_factory=dict)
    bearer_token: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    # a redirect to another origin (scheme, host, port): "strip" follows it without --header or the bearer token,
    # "same-origin" refuses it (serve: the alert chose the target)
    redirects: str = "strip"
    quote_bodies: bool = True  # False: errors name a body's status and length, never its text (serve's reports)
    # host -> the addresses it was checked at: connect to those only, any other host refused, no proxy
    # (collect/pinning.py; serve's DNS pinning). None: resolve names as usual
    pinned: Mapping[str, tuple[str, ...]] | None = None


@dataclass(slots=True)
class Fetched:
    kind: str  # goroutine, goroutine-dump, goroutineleak, heap, metrics, vars
    data: bytes
    parsed: Parsed


@dataclass(slots=True)
class ScrapeResult:
    target: Target
    taken_at: float
    status: str = "ok"  # ok | unreachable | error
    error: str | None = None
    fetched: list[Fetched] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    plan: list[str] = field(default_factory=list)  # why this round fetched what it did (adaptive plan only)

    def get(self, kind: str) -> Fetched | None:
        return next((f for f in self.fetched if f.kind == kind), None)

    @property
    def dump(self) -> GoroutineDump | None:
        fetched = self.get("goroutine-dump")
        return fetched.parsed.dump if fetched else None

    @property
    def goroutine_profile(self) -> Profile | None:
        fetched = self.get("goroutine")
        return fetched.parsed.profile if fetched else None

    @property
    def leak_profile(self) -> Profile | None:
        fetched = self.get("goroutineleak")
        return fetched.parsed.profile if fetched else None

    @property
    def heap(self) -> Profile | None:
        fetched = self.get("heap")
        return fetched.parsed.profile if fetched else None

    @property
    def memstats(self) -> MemStats | None:
        fetched = self.get("metrics") or self.get("vars")
        return fetched.parsed.memstats if fetched else None

    def live_heap(self) -> float | None:
        """The live heap this round saw: the runtime's heap-in-use metric, else the heap profile's inuse_space."""
        memstats = self.memstats
        if memstats is not None and memstats.heap_inuse is not None:
            return float(memstats.heap_inuse)
        heap = self.heap
        if heap is None:
            return None
        index = next((i for i, value in enumerate(heap.sample_types) if value.type == "inuse_space"), None)
        return float(heap.totals()[index]) if index is not None else None

    def leaked(self) -> int | None:
        """Goroutines this round's leak profile (or dump) proved leaked; None when neither was fetched."""
        if self.leak_profile is not None:
            return int(self.leak_profile.totals()[0]) if len(self.leak_profile.samples) else 0
        dump = self.dump
        return sum(1 for goroutine in dump.goroutines if goroutine.leaked) if dump is not None else None


def tls_verify(config: ScrapeConfig) -> Any:
    """httpx's ``verify``: an SSL context with the CA bundle and client certificate, or False for ``insecure``
    without a client certificate. Unreadable files and bad PEM raise ``ConfigError`` (call it before the first
    round: a typo in --cert must not look like every target failing TLS)."""
    for option, path in (("--cert", config.client_cert), ("--key", config.client_key), ("--ca", config.ca_file)):
        if path is not None:
            try:
                Path(path).read_bytes()
            except OSError as exc:
                raise ConfigError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    if config.client_key and not config.client_cert:
        raise ConfigError("--key needs --cert (the client certificate it belongs to)")
    if config.insecure and not config.client_cert:
        return False
    try:
        context = ssl.create_default_context(cafile=None if config.insecure else config.ca_file)
    except ssl.SSLError as exc:
        raise ConfigError(f"--ca {config.ca_file}: not a PEM CA bundle ({reason(exc)})") from None
    if config.insecure:  # still present the client certificate: --insecure only skips checking the server's
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.client_cert:
        try:
            context.load_cert_chain(config.client_cert, config.client_key)
        except ssl.SSLError as exc:
            files = config.client_cert + (f" / --key {config.client_key}" if config.client_key else "")
            raise ConfigError(f"--cert {files}: {reason(exc)}", hint="PEM certificate and its private key") from None
    return context
