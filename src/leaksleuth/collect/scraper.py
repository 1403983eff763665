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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leaksleuth.clock import SYSTEM_CLOCK, Clock
from leaksleuth.collect.plan import Plan, TargetPlanner
from leaksleuth.collect.scrape_config import Fetched, ScrapeConfig, ScrapeResult, tls_verify
from leaksleuth.errors import ConfigError, FetchError, InputTooLargeError, LeaksleuthError, ParseError
from leaksleuth.formats import Format, parse
from leaksleuth.formats.compression import resolve_max_size
from leaksleuth.httpio import RETRY_STATUS, CappedBody, backoff_delay, reason
from leaksleuth.model.target import Target

if TYPE_CHECKING:
    import httpx


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
            planner.saw(heap_bytes=result.live_heap(), leaked=result.leaked())

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


class _HTTPStatus(Exception):
    def __init__(self, status: int, snippet: str, size: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.snippet = snippet
        self.size = size


def _make_client(config: ScrapeConfig, verify: Any) -> httpx.AsyncClient:
    import httpx

    headers = {"User-Agent": "leaksleuth", **config.headers}
    if config.bearer_token:
        headers["Authorization"] = f"Bearer {config.bearer_token}"
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=2)
    pinned: dict[str, Any] = {}
    if config.pinned is not None:  # the transport takes verify and limits; no proxy from the environment
        from leaksleuth.collect.pinning import pinned_transport

        pinned = {"transport": pinned_transport(config.pinned, verify=verify, limits=limits), "trust_env": False}
    return httpx.AsyncClient(
        headers=headers,
        verify=verify,
        limits=limits,
        timeout=httpx.Timeout(config.timeout),
        follow_redirects=False,  # Scraper._read follows them, checking each hop's origin
        **pinned,
    )
