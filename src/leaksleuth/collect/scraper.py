"""The fleet scraper: asyncio + httpx, cheap by default, one bad target never hurts the others.

Per target and round: the goroutine profile (proto, cheap) for the count; then either the full dump from
``goroutineleak?debug=2`` (states, waits, creators and the runtime's ``(leaked)`` marks) when the count is under
``debug2_threshold`` — a debug=2 dump stops the world — or the goroutineleak proto; the heap profile; and
``/metrics`` (or ``/debug/vars`` when there is no /metrics). Requests share a global concurrency limit, each has a
total deadline (a slow-drip body cannot hold a slot), bodies are size-capped while streaming, and transient
failures are retried with exponential backoff and jitter. What a target does not serve (404) is remembered.

``ScrapeConfig.deadline`` bounds one target's whole scrape — every request, retry and back-off — so the watcher can
promise a scrape is over before that target's next round. Time spent queued for a ``concurrency`` slot is not
charged to it: waiting for the collector is not the target's slowness.

Big bodies are parsed in the scraper's own threads, off the event loop: a 64 MiB goroutine dump takes a second or
more to parse, and in ``serve`` every request would wait for it. (A body under ``thread_parse_bytes`` parses in a
few milliseconds, less than handing it to a thread costs in CPU.) A scraper lives in ``async with`` (its HTTP clients
and parse threads are closed at the end); the clock it stamps results and times deadlines with is injected.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leaksleuth.clock import SYSTEM_CLOCK, Clock
from leaksleuth.collect import DEBUG2_THRESHOLD
from leaksleuth.collect.plan import Plan, PlanConfig, TargetPlanner
from leaksleuth.errors import ConfigError, FetchError, InputTooLargeError, LeaksleuthError, ParseError
from leaksleuth.formats import Format, Parsed, parse
from leaksleuth.formats.compression import resolve_max_size
from leaksleuth.httpio import RETRY_STATUS, CappedBody, backoff_delay, reason
from leaksleuth.model.target import Target

if TYPE_CHECKING:
    import httpx

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


class Unreachable(FetchError):
    """Nothing answered (refused, DNS failure, connect timeout)."""


@dataclass(slots=True)
class _Capabilities:
    """What a target turned out not to serve, so later rounds do not ask again."""

    no_leak_profile: bool = False
    metrics_path: str | None = None  # "/metrics" or "/debug/vars" once known; "" when neither exists


class _Budget:
    """What is left of one scrape's ``deadline``: charged for time holding a request slot and for back-off sleeps."""

    __slots__ = ("clock", "left", "spent")

    def __init__(self, seconds: float | None, clock: Clock) -> None:
        self.left = seconds if seconds is not None else float("inf")
        self.spent = 0.0  # seconds charged so far: how long the target took to answer
        self.clock = clock

    def charge(self, since: float) -> None:
        taken = self.clock.monotonic() - since
        self.left -= taken
        self.spent += taken


PARSE_THREADS = 2  # parsing holds the GIL: more threads add no throughput; two keep one huge dump from holding up all


class Scraper:
    """One small connection pool per target: httpcore scans its whole pool on every request, so one shared pool
    for a fleet of thousands costs O(connections) per request; a pool per target keeps that constant."""

    def __init__(self, config: ScrapeConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        if config.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {config.concurrency}")  # Semaphore(0): deadlock
        self.config = config
        self.clock = clock
        self._parser: ThreadPoolExecutor | None = None
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._verify: Any = None
        self._max_size = 0
        self._slots = asyncio.Semaphore(config.concurrency)
        self._capabilities: dict[str, _Capabilities] = {}
        self._rounds: dict[str, int] = {}
        self._planners: dict[str, TargetPlanner] = {}

    async def __aenter__(self) -> Scraper:
        self._verify = tls_verify(self.config)  # one SSL context for every client: building one costs milliseconds
        self._max_size = resolve_max_size(self.config.max_decompressed)[0]  # one cap, resolved once
        self._parser = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="leaksleuth-parse")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.forget(())
        finally:
            if self._parser is not None:  # a parse still running (a cancelled scrape's) finishes on its own
                self._parser.shutdown(wait=False, cancel_futures=True)
                self._parser = None

    async def forget(self, keep: Iterable[str]) -> None:
        """Close the clients of targets no longer watched (discovery dropped them)."""
        kept = set(keep)
        for url in [u for u in self._clients if u not in kept]:
            await self._clients.pop(url).aclose()
            self._capabilities.pop(url, None)
            self._rounds.pop(url, None)
            self._planners.pop(url, None)

    def _client(self, target: Target) -> httpx.AsyncClient:
        client = self._clients.get(target.url)
        if client is None:
            client = self._clients[target.url] = _make_client(self.config, self._verify)
        return client

    async def scrape_all(self, targets: list[Target]) -> list[ScrapeResult]:
        return list(await asyncio.gather(*(self.scrape(target) for target in targets)))

    async def scrape(self, target: Target) -> ScrapeResult:
        if self._parser is None:
            raise RuntimeError("Scraper.scrape outside `async with Scraper(...)`")
        started = self.clock.monotonic()
        result = ScrapeResult(target, self.clock.wall())
        capabilities = self._capabilities.setdefault(target.url, _Capabilities())
        round_number = self._rounds.get(target.url, 0)
        self._rounds[target.url] = round_number + 1
        try:
            await self._scrape(target, result, capabilities, round_number, _Budget(self.config.deadline, self.clock))
        except Unreachable as exc:
            result.status, result.error = "unreachable", str(exc)
        except LeaksleuthError as exc:
            result.status, result.error = "error", str(exc)
        except Exception as exc:  # one target's surprise must never end the watch of the others
            result.status, result.error = "error", f"{target.url}: unexpected {type(exc).__name__}: {reason(exc)}"
        result.seconds = self.clock.monotonic() - started
        return result

    async def _scrape(
        self, target: Target, result: ScrapeResult, capabilities: _Capabilities, round_number: int, budget: _Budget
    ) -> None:
        spent = budget.spent
        counts = await self._fetch(target, "/debug/pprof/goroutine", "goroutine", Format.PPROF, budget)
        result.fetched.append(counts)
        profile = counts.parsed.profile
        if profile is None or counts.parsed.kind != "goroutine":
            raise ParseError(f"{target.url}/debug/pprof/goroutine is a {counts.parsed.kind}, not a goroutine profile")
        total = int(profile.totals()[0])
        config = self.config
        heap_due = bool(config.heap_every) and round_number % config.heap_every == 0
        planner = self._planner(target.url)
        if planner is None:  # everything every round: the dump under the threshold, else the leak profile
            plan = Plan("dump" if total <= config.debug2_threshold else "proto", None)
            plan.heap = ("gc" if config.heap_gc else "plain") if heap_due else None
        else:
            plan = planner.plan(
                total,
                budget.spent - spent,
                debug2_threshold=config.debug2_threshold,
                heap_due=heap_due,
                heap_gc=config.heap_gc,
            )
            result.plan = plan.reasons
        if plan.leak == "dump":
            await self._fetch_dump(target, result, capabilities, budget)
        elif plan.leak == "proto" and not capabilities.no_leak_profile:
            try:
                result.fetched.append(
                    await self._fetch(target, "/debug/pprof/goroutineleak", "goroutineleak", Format.PPROF, budget)
                )
            except FetchError as exc:
                if not exc.status == 404:
                    raise
                capabilities.no_leak_profile = True
        if plan.heap is not None:
            heap_path = "/debug/pprof/heap?gc=1" if plan.heap == "gc" else "/debug/pprof/heap"
            result.fetched.append(await self._fetch(target, heap_path, "heap", Format.PPROF, budget))
        if config.metrics:
            await self._fetch_metrics(target, result, capabilities, budget)
        if planner is not None:
            planner.saw(heap_bytes=_live_heap(result), leaked=_leaked(result))

    def _planner(self, url: str) -> TargetPlanner | None:
        if self.config.plan is None:
            return None
        planner = self._planners.get(url)
        if planner is None:
            planner = self._planners[url] = TargetPlanner(self.config.plan)
        return planner

    async def _fetch_dump(
        self, target: Target, result: ScrapeResult, capabilities: _Capabilities, budget: _Budget
    ) -> None:
        """The debug=2 dump: from goroutineleak (with the runtime's leak marks), or plain goroutine before Go 1.26."""
        path = (
            "/debug/pprof/goroutine?debug=2" if capabilities.no_leak_profile else "/debug/pprof/goroutineleak?debug=2"
        )
        try:
            result.fetched.append(await self._fetch(target, path, "goroutine-dump", Format.GOROUTINE_DUMP, budget))
        except FetchError as exc:
            if not exc.status == 404 or capabilities.no_leak_profile:
                raise
            capabilities.no_leak_profile = True
            result.notes.append("no goroutineleak profile (Go < 1.26): no runtime proof of leaks")
            dump_path = "/debug/pprof/goroutine?debug=2"
            result.fetched.append(await self._fetch(target, dump_path, "goroutine-dump", Format.GOROUTINE_DUMP, budget))

    async def _fetch_metrics(
        self, target: Target, result: ScrapeResult, capabilities: _Capabilities, budget: _Budget
    ) -> None:
        if capabilities.metrics_path == "":
            return
        order = [capabilities.metrics_path] if capabilities.metrics_path else ["/metrics", "/debug/vars"]
        for path in order:
            kind, fmt = ("metrics", Format.PROMETHEUS) if path == "/metrics" else ("vars", Format.EXPVAR)
            try:
                result.fetched.append(await self._fetch(target, path, kind, fmt, budget))
            except FetchError as exc:
                if exc.status == 404:
                    continue
                raise
            except ParseError:
                if capabilities.metrics_path:
                    raise
                continue  # /metrics that is not Go's: try expvar
            capabilities.metrics_path = path
            return
        capabilities.metrics_path = ""
        result.notes.append("no /metrics or /debug/vars: no RSS / GC series")

    async def _fetch(self, target: Target, path: str, kind: str, expected: Format, budget: _Budget) -> Fetched:
        url = target.url + path
        data = await self._get(self._client(target), url, budget)
        parsing = functools.partial(parse, data, format=expected, max_size=self._max_size)
        try:
            if len(data) >= self.config.thread_parse_bytes:
                parsed = await asyncio.get_running_loop().run_in_executor(self._parser, parsing)
            else:
                parsed = parsing()
        except InputTooLargeError as exc:
            raise exc.with_context(f"GET {url}") from None
        except LeaksleuthError as exc:
            if not self.config.quote_bodies:  # a parser's message quotes the input: name its length only
                raise ParseError(f"GET {url}: {len(data):,} bytes that do not parse as {expected.value}") from None
            raise exc.with_context(f"GET {url}") from None
        return Fetched(kind, data, parsed)

    async def _get(self, client: httpx.AsyncClient, url: str, budget: _Budget) -> bytes:
        import httpx

        attempt = 0
        while True:
            if budget.left <= 0:
                raise FetchError(f"GET {url}: not started, the {self.config.deadline:g}s scrape deadline is spent")
            timeout = min(self.config.timeout, budget.left)
            try:
                async with self._slots:  # queued time is not charged: the collector is busy, not the target
                    started = self.clock.monotonic()
                    try:
                        return await asyncio.wait_for(self._read(client, url), timeout=timeout)
                    finally:
                        budget.charge(started)
            except TimeoutError:
                cut = "" if timeout == self.config.timeout else f", the rest of the {self.config.deadline:g}s deadline"
                error: FetchError = FetchError(f"GET {url}: timed out after {timeout:.3g}s{cut}")
                transient = True
            except httpx.ConnectError as exc:
                error = Unreachable(f"GET {url}: cannot connect ({reason(exc)})")
                transient = True
            except httpx.TransportError as exc:
                error = FetchError(f"GET {url}: {type(exc).__name__} ({reason(exc)})")
                transient = True
            except (ssl.SSLError, OSError) as exc:  # TLS alerts can surface unwrapped while the body is read
                error = FetchError(f"GET {url}: {type(exc).__name__} ({reason(exc)})")
                transient = False
            except _HTTPStatus as exc:
                message = f"GET {url}: HTTP {exc.status}{exc.size}{': ' + exc.snippet if exc.snippet else ''}"
                error = FetchError(message, status=exc.status)
                transient = exc.status in RETRY_STATUS
            if not transient or attempt >= self.config.retries:
                raise error
            delay = backoff_delay(attempt, self.config.backoff)
            if delay >= budget.left:  # the retry could not finish in time: say why there was none
                error.args = (
                    f"{error.args[0]} (no time left for a retry within the {self.config.deadline:g}s deadline)",
                )
                raise error
            started = self.clock.monotonic()
            await self.clock.sleep(delay)
            budget.charge(started)
            attempt += 1

    async def _read(self, client: httpx.AsyncClient, url: str) -> bytes:
        request = client.build_request("GET", url)
        for _ in range(MAX_REDIRECTS + 1):
            response = await client.send(request, stream=True)
            try:
                if response.next_request is not None:  # a redirect: followed here, one origin check per hop
                    request = self._redirected(url, request, response.next_request)
                    continue
                if response.status_code >= 400:
                    raise await self._status(response)
                capped = CappedBody(self.config.max_body, f"GET {url}")
                async for chunk in response.aiter_bytes():
                    capped.add(chunk)
                return capped.value()
            finally:
                await response.aclose()
        raise FetchError(f"GET {url}: more than {MAX_REDIRECTS} redirects")

    def _redirected(self, url: str, previous: httpx.Request, following: httpx.Request) -> httpx.Request:
        if _origin(following.url) == _origin(previous.url):
            return following
        if self.config.redirects == "same-origin":
            raise FetchError(f"GET {url}: redirect to another origin ({_origin(following.url)}) refused")
        for name in [*self.config.headers, "Authorization", "Cookie"]:  # the user's headers stay with the origin
            following.headers.pop(name, None)
        return following

    async def _status(self, response: httpx.Response) -> _HTTPStatus:
        """The error for an HTTP error answer: a short quote of the body, or (``quote_bodies=False``) its length."""
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > ERROR_BODY_READ:
                break
        if self.config.quote_bodies:
            return _HTTPStatus(response.status_code, body[:200].decode("utf-8", "replace").strip())
        size = f"over {ERROR_BODY_READ:,}" if len(body) > ERROR_BODY_READ else str(len(body))
        return _HTTPStatus(response.status_code, "", f" ({size} bytes)")


MAX_REDIRECTS = 5
ERROR_BODY_READ = 64 << 10  # bytes of an error answer read, to quote it or to say how long it was


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"


def _live_heap(result: ScrapeResult) -> float | None:
    """The live heap this round saw: the runtime's heap-in-use metric, else the heap profile's inuse_space."""
    memstats = result.memstats
    if memstats is not None and memstats.heap_inuse is not None:
        return float(memstats.heap_inuse)
    heap = result.heap
    if heap is None:
        return None
    index = next((i for i, value in enumerate(heap.sample_types) if value.type == "inuse_space"), None)
    return float(heap.totals()[index]) if index is not None else None


def _leaked(result: ScrapeResult) -> int | None:
    """Goroutines this round's leak profile (or dump) proved leaked; None when neither was fetched."""
    if result.leak_profile is not None:
        return int(result.leak_profile.totals()[0]) if len(result.leak_profile.samples) else 0
    dump = result.dump
    return sum(1 for goroutine in dump.goroutines if goroutine.leaked) if dump is not None else None


class _HTTPStatus(Exception):
    def __init__(self, status: int, snippet: str, size: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.snippet = snippet
        self.size = size


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


def _make_client(config: ScrapeConfig, verify: Any) -> httpx.AsyncClient:
    import httpx

    headers = {"User-Agent": "leaksleuth", **config.headers}
    if config.bearer_token:
        headers["Authorization"] = f"Bearer {config.bearer_token}"
    return httpx.AsyncClient(
        headers=headers,
        verify=verify,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        timeout=httpx.Timeout(config.timeout),
        follow_redirects=False,  # Scraper._read follows them, checking each hop's origin
    )
