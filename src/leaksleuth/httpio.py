"""What every HTTP read in leaksleuth shares: which answers deserve a retry, the back-off, the body cap, the words.

Three clients use it: ``load.fetch`` (one GET from the command line), the fleet ``Scraper`` (async, many targets)
and the Prometheus API client. Retry decisions, back-off and size limits must not drift apart between them.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit, urlunsplit

from leaksleuth.errors import ConfigError, InputTooLargeError

# overloaded or a proxy in between: worth another try. 500 is not: net/http/pprof answers it for its own errors
# ("profile not found", "could not enable CPU profiling"), and Prometheus for a query that failed.
RETRY_STATUS = frozenset({429, 502, 503, 504})
MAX_BACKOFF = 8.0  # seconds


def backoff_delay(attempt: int, base: float) -> float:
    """Exponential with full jitter (0-based ``attempt``): a fleet retrying at once does not come back in lock-step."""
    return random.uniform(0.0, min(MAX_BACKOFF, base * 2**attempt))


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (httpx and ssl messages can run over many lines)."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


class CappedBody:
    """Collects a streamed response body and refuses it as soon as it grows past ``cap`` bytes."""

    __slots__ = ("_chunks", "_received", "cap", "hint", "what")

    def __init__(self, cap: int, what: str, *, hint: str | None = None) -> None:
        self.cap, self.what, self.hint = cap, what, hint
        self._chunks: list[bytes] = []
        self._received = 0

    def add(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.cap:
            raise InputTooLargeError(f"{self.what}: response exceeds {self.cap:,} bytes, the size cap", hint=self.hint)
        self._chunks.append(chunk)

    def value(self) -> bytes:
        return b"".join(self._chunks)


def base_url(url: str, *, suffixes: tuple[str, ...], what: str, example: str) -> str:
    """``host:port`` or a URL pasted from a browser -> ``scheme://host:port[/prefix]``: adds ``http://``, accepts
    http(s) only, drops the query, trailing slashes and one of ``suffixes`` (the page people copy)."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number (0-65535)
    except ValueError as exc:  # "Invalid IPv6 URL" for an unclosed '[', "Port out of range 0-65535"
        raise ConfigError(f"{what} is not a valid URL, got {url!r}: {exc}", hint=f"e.g. {example}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{what} must be an http(s) URL, got {url!r}", hint=f"e.g. {example}")
    path = parts.path.rstrip("/")
    for suffix in suffixes:
        if path.endswith(suffix):
            path = path.removesuffix(suffix)
            break
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
