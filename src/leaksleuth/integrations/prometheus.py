"""A small Prometheus HTTP API client: instant and range queries, scrape targets.

Range queries are split into chunks of at most 11,000 points per series, the most Prometheus accepts in one
``query_range`` ("exceeded maximum resolution of 11,000 points per timeseries"), and stitched back together. Every
request has a timeout and a bounded number of retries (connection errors, 429 and 5xx only: a bad query stays bad).
Failures become one-line ``FetchError``s: "Prometheus at URL unreachable: …", "Prometheus returned error: bad_data: …".
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from leaksleuth.durations import parse_duration
from leaksleuth.errors import ConfigError, FetchError, InputTooLargeError
from leaksleuth.httpio import RETRY_STATUS, CappedBody, backoff_delay, base_url
from leaksleuth.model.target import Target, TargetSource, make_target

__all__ = ["PrometheusClient", "ScrapeTarget", "Series"]

MAX_POINTS_PER_SERIES = 11_000  # Prometheus' limit for one range query (promql engine, api/v1)
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2
DEFAULT_MAX_BODY = 512 << 20  # one API response; a query that big should use a coarser step
SHAPE_HINT = "is --prometheus the Prometheus HTTP API (api/v1), not a proxy that rewrites its answers?"


@dataclass(frozen=True, slots=True)
class Series:
    """One time series of a query result: its labels (``__name__`` included when Prometheus sends it) and points."""

    labels: Mapping[str, str]
    timestamps: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """One entry of ``/api/v1/targets`` (active targets)."""

    labels: Mapping[str, str]  # after relabelling: job, instance, …
    discovered_labels: Mapping[str, str]
    scrape_url: str
    health: str  # "up", "down", "unknown"
    last_error: str
    scrape_interval: float | None  # seconds (Prometheus >= 2.36 reports it)


@dataclass(slots=True)
class PrometheusClient:
    """``PrometheusClient("http://prometheus:9090")``; use as a context manager or call ``close()``.

    ``transport`` and ``sleep`` are seams for tests (an ``httpx.MockTransport``, no real backoff waits).
    """

    url: str
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    bearer_token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    max_body: int = DEFAULT_MAX_BODY
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    requests_sent: int = 0  # for tests and progress: every HTTP attempt counts
    _http: httpx.Client | None = None

    def __post_init__(self) -> None:
        self.url = normalize_url(self.url)
        if self.retries < 0:
            raise ConfigError("retries must not be negative")
        if not (0 < self.timeout < math.inf):  # 0 fails every connect: "[Errno 115] Operation now in progress"
            raise ConfigError(
                f"--timeout must be a positive number of seconds, got {self.timeout:g}", hint="e.g. --timeout 30"
            )

    # ---- public API -----------------------------------------------------------------------------------------

    def query(self, promql: str, *, at: float | None = None) -> list[Series]:
        """Instant query. A range-vector expression (``up[5m]``) returns the raw samples of each series."""
        params = {"query": promql}
        if at is not None:
            params["time"] = _format_time(at)
        return _result_series(self._get("/api/v1/query", params, promql), self._source(promql))

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[Series]:
        """Range query over [start, end] every ``step`` seconds, chunked under 11,000 points per series."""
        if step <= 0:
            raise ConfigError(f"step must be positive, got {step}")
        if end < start:
            raise ConfigError("range query ends before it starts")
        merged: dict[tuple[tuple[str, str], ...], tuple[list[float], list[float]]] = {}
        for chunk_start, chunk_end in chunk_ranges(start, end, step):
            params = {
                "query": promql,
                "start": _format_time(chunk_start),
                "end": _format_time(chunk_end),
                "step": _format_step(step),
            }
            for series in _result_series(self._get("/api/v1/query_range", params, promql), self._source(promql)):
                key = tuple(sorted(series.labels.items()))
                times, values = merged.setdefault(key, ([], []))
                for stamp, value in zip(series.timestamps, series.values, strict=True):
                    if not times or stamp > times[-1]:  # chunks do not overlap; this guards against it anyway
                        times.append(stamp)
                        values.append(value)
        return [Series(dict(key), tuple(t), tuple(v)) for key, (t, v) in merged.items()]

    def targets(self, *, state: str = "active") -> list[ScrapeTarget]:
        """Scrape targets as Prometheus sees them (``/api/v1/targets``)."""
        data = self._get("/api/v1/targets", {"state": state}, "targets")
        entries = data.get("activeTargets") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise FetchError(f"Prometheus at {self.url}: /api/v1/targets has no activeTargets list")
        source = f"Prometheus at {self.url}: /api/v1/targets"
        targets = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            targets.append(
                ScrapeTarget(
                    labels=_labels(entry.get("labels"), source),
                    discovered_labels=_labels(entry.get("discoveredLabels"), source),
                    scrape_url=str(entry.get("scrapeUrl", "")),
                    health=str(entry.get("health", "unknown")),
                    last_error=str(entry.get("lastError", "")),
                    scrape_interval=_scrape_interval(entry.get("scrapeInterval"), source),
                )
            )
        return targets

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _source(self, promql: str) -> str:
        # queries span lines (the rules' style); one line in an error message, and not a page of it
        text = " ".join(promql.split())
        return f"Prometheus at {self.url}: query {text[:120] + ('…' if len(text) > 120 else '')!r}"

    # ---- HTTP -----------------------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self._http is None:
            headers = {"Accept": "application/json", **self.headers}
            if self.bearer_token:
                headers["Authorization"] = f"Bearer {self.bearer_token}"
            self._http = httpx.Client(
                timeout=self.timeout, headers=headers, transport=self.transport, follow_redirects=True
            )
        return self._http

    def _get(self, path: str, params: dict[str, str], what: str) -> Any:
        """GET an API path and return its ``data`` member; bounded retries on transient failures only."""
        url = self.url + path
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self.requests_sent += 1
            try:
                status, body = self._fetch(url, params)
            except (httpx.TransportError, OSError) as exc:  # OSError: TLS alerts can surface unwrapped
                if last:
                    raise FetchError(
                        f"Prometheus at {self.url} unreachable: {_describe(exc)}",
                        hint="check --prometheus (the server's base URL, e.g. http://prometheus:9090)",
                    ) from exc
                self._backoff(attempt)
                continue
            if status in RETRY_STATUS and not last:
                self._backoff(attempt)
                continue
            return self._data(status, body, what)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _fetch(self, url: str, params: dict[str, str]) -> tuple[int, bytes]:
        with self._client().stream("GET", url, params=params) as response:
            body = CappedBody(self.max_body, f"Prometheus at {self.url}")
            try:
                for chunk in response.iter_bytes():
                    body.add(chunk)
            except InputTooLargeError as exc:  # not bad input: a query that asks for too much
                raise FetchError(str(exc), hint="narrow --selector or use a coarser --step") from None
            return response.status_code, body.value()

    def _backoff(self, attempt: int) -> None:
        self.sleep(backoff_delay(attempt, 0.5))

    def _data(self, status: int, body: bytes, what: str) -> Any:
        import json

        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict) or "status" not in document:
            snippet = body[:120].decode("utf-8", "replace").strip().replace("\n", " ")
            hint = "is this the Prometheus base URL? (no /graph or /api/v1 suffix)"
            if status in (401, 403):
                hint = "pass credentials: --bearer-token-file or --header 'Authorization: …'"
            raise FetchError(
                f"Prometheus at {self.url} answered HTTP {status}, not a Prometheus API response: {snippet!r}",
                hint=hint,
            )
        if document.get("status") != "success":
            kind = document.get("errorType") or f"HTTP {status}"
            message = document.get("error") or "no error message"
            hint = f"query: {what}"
            if kind == "timeout" or "exceeded maximum resolution" in str(message):
                hint = "shorten --window or use a coarser --step"
            raise FetchError(f"Prometheus returned error: {kind}: {message}", hint=hint)
        return document.get("data")


# ---- discovery: what Prometheus scrapes ---------------------------------------------------------------------


def prometheus_source(url: str, *, job: str | None = None, timeout: float = 10.0) -> TargetSource:
    """Active scrape targets of a Prometheus server: Go services serve /metrics and pprof on one mux and port."""

    def list_targets() -> list[Target]:
        with PrometheusClient(url, timeout=timeout) as prometheus:
            found = prometheus.targets()
        targets = []
        for entry in found:
            labels = dict(entry.labels)
            if (job is not None and labels.get("job") != job) or not entry.scrape_url:
                continue
            scheme, _, rest = entry.scrape_url.partition("://")
            extra = {k: v for k, v in labels.items() if k not in ("job", "instance")}
            targets.append(make_target(f"{scheme}://{rest.split('/', 1)[0]}", labels.get("job", ""), extra))
        return targets

    async def discover() -> list[Target]:
        return await asyncio.to_thread(list_targets)

    return discover


def normalize_url(url: str) -> str:
    """``prometheus:9090`` -> ``http://prometheus:9090``; drops a trailing slash and a pasted ``/graph``."""
    return base_url(url, suffixes=("/graph", "/api/v1"), what="--prometheus", example="http://prometheus:9090")


def chunk_ranges(start: float, end: float, step: float) -> Iterator[tuple[float, float]]:
    """[start, end] on the grid start + k*step, in pieces of at most MAX_POINTS_PER_SERIES points.

    Each piece starts one step after the previous one ends, so no point is fetched twice and the grid is kept.
    """
    span = step * (MAX_POINTS_PER_SERIES - 1)
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, chunk_start + span)
        yield chunk_start, chunk_end
        points = math.floor((chunk_end - chunk_start) / step + 1e-9) + 1
        chunk_start = chunk_start + points * step


def _result_series(data: Any, source: str) -> list[Series]:
    """The series of a query's ``data``; a FetchError naming the query and quoting the piece that is off shape.

    Shapes (api/v1): vector items ``{"metric": {…}, "value": [t, "v"]}``, matrix items ``{"metric": {…},
    "values": [[t, "v"], …]}``, a scalar ``[t, "v"]``. Proxies and look-alike APIs get these wrong: fail here,
    with the bad piece quoted, not with a KeyError three layers down.
    """
    if not isinstance(data, dict) or "resultType" not in data:
        raise FetchError(
            f"{source}: answer without a query result (resultType missing): {_quote(data)}", hint=SHAPE_HINT
        )
    kind, result = data["resultType"], data.get("result")
    if kind == "scalar":
        stamp, value = _point(result, source, "scalar")
        return [Series({}, (stamp,), (value,))]
    if kind not in ("vector", "matrix"):
        raise FetchError(
            f"{source}: answered a {_quote(kind)} result, expected series (a vector or a matrix)",
            hint='the query must select series, e.g. go_goroutines{job="api"}',
        )
    if not isinstance(result, list):
        raise FetchError(f"{source}: {kind} result is not a list: {_quote(result)}", hint=SHAPE_HINT)
    series = []
    for item in result:
        if not isinstance(item, dict):
            raise FetchError(f"{source}: {kind} result item is not an object: {_quote(item)}", hint=SHAPE_HINT)
        labels = _labels(item.get("metric"), source)
        if kind == "vector":
            if "value" not in item and "histogram" in item:
                raise FetchError(
                    f"{source}: vector sample is a native histogram, not a float: {_quote(item)}",
                    hint="leaksleuth reads float series (gauges such as go_goroutines); check --load",
                )
            if "value" not in item:
                raise FetchError(f"{source}: vector sample with no value: {_quote(item)}", hint=SHAPE_HINT)
            stamp, value = _point(item["value"], source, "vector")
            series.append(Series(labels, (stamp,), (value,)))
        else:
            points = item.get("values") or []
            if not isinstance(points, list):
                raise FetchError(
                    f"{source}: matrix values are not a list of [time, value]: {_quote(points)}", hint=SHAPE_HINT
                )
            pairs = [_point(point, source, "matrix") for point in points]
            series.append(Series(labels, tuple(t for t, _ in pairs), tuple(v for _, v in pairs)))
    return series


def _point(point: Any, source: str, kind: str) -> tuple[float, float]:
    """``[1700000000.5, "12"]`` -> (timestamp, value). Values are strings: "12", "1.5e+09", "NaN", "+Inf"."""
    if isinstance(point, list) and len(point) == 2:
        stamp, value = _number(point[0]), _number(point[1])
        if stamp is not None and value is not None:
            return stamp, value
    raise FetchError(f'{source}: {kind} sample is not [time, "value"]: {_quote(point)}', hint=SHAPE_HINT)


def _number(item: Any) -> float | None:
    if isinstance(item, bool) or not isinstance(item, int | float | str):
        return None
    try:
        return float(item)
    except ValueError:
        return None


def _labels(item: Any, source: str) -> dict[str, str]:
    if item is None:  # Prometheus always sends "metric"; a missing one reads as no labels
        return {}
    if not isinstance(item, dict) or not all(isinstance(v, str) for v in item.values()):
        raise FetchError(f"{source}: labels are not an object of strings: {_quote(item)}", hint=SHAPE_HINT)
    return {str(name): value for name, value in item.items()}


def _scrape_interval(item: Any, source: str) -> float | None:
    if not isinstance(item, str) or not item:
        return None
    try:
        return parse_duration(item)
    except ConfigError:
        raise FetchError(f"{source}: scrapeInterval is not a duration: {_quote(item)}", hint=SHAPE_HINT) from None


def _quote(piece: Any, limit: int = 80) -> str:
    """Compact JSON of the offending piece, cut at ``limit`` characters."""
    import json

    text = json.dumps(piece, separators=(",", ":"), default=str)
    return text[:limit] + ("…" if len(text) > limit else "")


def _format_time(seconds: float) -> str:
    return f"{seconds:.3f}"


def _format_step(seconds: float) -> str:
    return f"{seconds:g}"


def _describe(exc: httpx.TransportError | OSError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({text})"
    return f"{type(exc).__name__}: {text}" if str(exc) else type(exc).__name__
