"""One ``load()`` for a path, raw bytes or a URL (a plain, size-capped GET; the fleet scraper lives elsewhere)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit, urlunsplit

from leaksleuth.errors import ConfigError, FetchError, InputTooLargeError, LeaksleuthError
from leaksleuth.formats import Format, Parsed, parse
from leaksleuth.formats.compression import MAX_DECOMPRESSED_ENV, configured_max_decompressed, resolve_max_size

if TYPE_CHECKING:
    from concurrent.futures import Future

    import httpx

DEFAULT_TIMEOUT = 30.0
_BIGGER = f"set {MAX_DECOMPRESSED_ENV} (e.g. 1G) for an input that really is bigger"


@dataclass(slots=True)
class Loaded:
    source: str  # path or URL as the user gave it (or "<bytes>")
    parsed: Parsed
    size: int  # bytes read (before decompression)
    data: bytes  # the raw bytes, so callers can store or re-export them untouched


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def split_url(url: str) -> SplitResult:
    """``urlsplit`` that refuses what no request could be made to: an unclosed ``[`` (urllib's "Invalid IPv6 URL"),
    a port that is not a number in 0-65535, no host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsed lazily: raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"{url!r} is not a valid URL: {exc}", hint="e.g. http://host:6060 or a file path") from None
    if not parts.hostname:
        raise ConfigError(f"{url!r} is not a valid URL: no host", hint="e.g. http://host:6060 or a file path")
    return parts


def service_root(url: str) -> str | None:
    """The base URL when ``url`` names a service rather than one profile: ``http://host:6060``, ``…/debug/pprof/``
    or a prefix mount (``…/admin/debug/pprof``). A specific profile URL -> None."""
    parts = split_url(url)
    path = parts.path.rstrip("/")
    if path and not path.endswith("/debug/pprof"):
        return None
    return urlunsplit((parts.scheme, parts.netloc, path.removesuffix("/debug/pprof"), "", ""))


def profile_url(source: str, default_path: str = "/debug/pprof/goroutine?debug=2") -> str:
    """A base URL of a service (``http://host:6060``, ``…/debug/pprof/``) becomes the URL of one of its profiles."""
    root = service_root(source)
    return source if root is None else root + default_path


def fetch(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_body: int | None = None,
    client: httpx.Client | None = None,
) -> bytes:
    """GET ``url`` and return the body; refuses bodies over ``max_body`` bytes (default: the decompression cap)
    while streaming. ``timeout`` bounds the whole request (connect, headers and body), as the scraper's deadline
    does: httpx's timeout is per read, and a body dripping a byte a second never trips it."""
    from concurrent.futures import Future  # here: reading a file does not pay for it (nor for logging)
    from concurrent.futures import TimeoutError as FutureTimeout

    cap = max_body or configured_max_decompressed()
    done: Future[bytes] = Future()
    stop = threading.Event()
    worker = threading.Thread(target=_fetch_into, args=(done, stop, url, timeout, cap, client), daemon=True)
    worker.start()
    try:
        return done.result(timeout=timeout)  # the worker's error, re-raised here
    except FutureTimeout:
        raise FetchError(f"GET {url}: timed out after {timeout:g}s (the whole request)") from None
    finally:
        stop.set()  # a request past its deadline stops at its next chunk (or its own read timeout)


def _fetch_into(
    done: Future[bytes], stop: threading.Event, url: str, timeout: float, cap: int, client: httpx.Client | None
) -> None:
    try:
        done.set_result(_get(stop, url, timeout, cap, client))
    except BaseException as exc:  # handed to the caller, which raises it
        done.set_exception(exc)


def _get(stop: threading.Event, url: str, timeout: float, cap: int, client: httpx.Client | None) -> bytes:
    import httpx  # lazy: reading files should not pay for the HTTP stack (nor for httpio's random)

    from leaksleuth.httpio import CappedBody, reason

    own = client is None
    session = client or httpx.Client(timeout=timeout, follow_redirects=True)
    try:
        with session.stream("GET", url) as response:
            if response.status_code >= 400:
                snippet = response.read()[:200].decode("utf-8", "replace").strip()
                raise FetchError(
                    f"GET {url}: HTTP {response.status_code}" + (f": {snippet}" if snippet else ""),
                    hint='is net/http/pprof mounted on this port? (import _ "net/http/pprof")'
                    if response.status_code == 404
                    else None,
                    status=response.status_code,
                )
            capped = CappedBody(cap, f"GET {url}", hint=_BIGGER)
            for chunk in response.iter_bytes():
                if stop.is_set():  # the caller gave up at the deadline
                    raise FetchError(f"GET {url}: timed out after {timeout:g}s (the whole request)")
                capped.add(chunk)
            return capped.value()
    except httpx.ConnectError as exc:  # the same words as the fleet scraper
        raise FetchError(f"GET {url}: cannot connect ({reason(exc)})") from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"GET {url}: timed out after {timeout:g}s") from exc
    except (httpx.HTTPError, OSError) as exc:  # OSError: TLS alerts can surface unwrapped while reading
        raise FetchError(f"GET {url}: {type(exc).__name__}: {exc}".rstrip(": ")) from exc
    finally:
        if own:
            session.close()


def read_file(path: str | Path, *, max_body: int | None = None) -> bytes:
    """A file's bytes, refusing more than ``max_body`` (default: the decompression cap)."""
    max_body = max_body or configured_max_decompressed()
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > max_body:
            raise InputTooLargeError(f"{path}: {size:,} bytes exceeds the {max_body:,}-byte cap", hint=_BIGGER)
        with file.open("rb") as stream:  # read to the cap, not to stat's size: /dev/zero and pipes report 0
            data = stream.read(max_body + 1)
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > max_body:
        raise InputTooLargeError(f"{path}: more than the {max_body:,}-byte cap", hint=_BIGGER)
    return data


def load(
    source: str | Path | bytes,
    *,
    format: Format | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_size: int | None = None,
    default_path: str = "/debug/pprof/goroutine?debug=2",
) -> Loaded:
    """Read and parse a profile, dump or metrics page from a file path, a URL or bytes.

    ``max_size`` caps the bytes read and the bytes decompressed (default: ``LEAKSLEUTH_MAX_DECOMPRESSED`` or 256 MiB).
    """
    cap, _ = resolve_max_size(max_size)  # None stays None for parse(): the cap is the default one there too
    if isinstance(source, bytes):
        name, data = "<bytes>", source
    elif isinstance(source, str) and is_url(source):
        name = profile_url(source, default_path)
        data = fetch(name, timeout=timeout, max_body=cap)
    else:
        name = str(source)
        data = read_file(source, max_body=cap)
    try:
        parsed = parse(data, format=format, max_size=max_size)
    except LeaksleuthError as exc:
        raise exc.with_context(f"reading {name}") from None
    return Loaded(name, parsed, len(data), data)
