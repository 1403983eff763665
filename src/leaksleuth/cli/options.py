"""Small helpers the commands share: secrets, headers, output files checked before long work, and the numeric
options every command validates the same way (click takes ``nan``, ``inf`` and ``-1`` as floats)."""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from leaksleuth.errors import ConfigError, LeaksleuthError


def _option_name(param: typer.CallbackParam) -> str:
    return max(param.opts, key=len) if param.opts else f"--{param.name}"


def positive_seconds(param: typer.CallbackParam, value: float | None) -> float | None:
    """A timeout: finite and above zero (``nan`` would crash the HTTP client, ``-1`` or ``inf`` wait forever)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(
            f"{_option_name(param)} must be a positive number of seconds, got {value:g}", hint="e.g. --timeout 30"
        )
    return value


def fraction(param: typer.CallbackParam, value: float | None) -> float | None:
    """A share of a total: finite, from 0 to 1 (``-1`` or ``2`` would hide every row, ``nan`` crash)."""
    if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
        name = _option_name(param)
        raise ConfigError(
            f"{name} must be a fraction from 0 to 1, got {value:g}", hint=f"{name} 0.01 is 1% of the total; 0 keeps all"
        )
    return value


# one definition for every command (defaults stay with each command: 30 s for one profile, 10 s in a fleet round)
Timeout = Annotated[float, typer.Option(help="Seconds per HTTP request.", callback=positive_seconds)]


# goroutines and watch judge buckets alike, so they take the same noise floor
MinGrowth = Annotated[
    int,
    typer.Option(
        min=1,
        help="Goroutines a bucket must gain to count as growth; a bucket the runtime proves leaked that never grows "
        "and holds fewer is parked-forever (by design?), not a leak.",
    ),
]


# goroutines, heap trend and watch explain suspects with the Go source when it is readable here
SourceRoots = Annotated[
    list[str] | None,
    typer.Option(
        "--source-root",
        help="Where the profiled source is checked out: PREFIX=DIR maps a build path prefix (or a -trimpath module "
        "path) to DIR; a bare DIR is searched for the file's trailing path components, like pprof -source_path "
        "(repeatable). Files named by the profile are also read where they are.",
    ),
]


def positive_duration(option: str, text: str) -> float:
    """Seconds in ``text`` (``10s``, ``5m``…), a usage error unless longer than zero."""
    from leaksleuth.durations import parse_duration

    seconds = parse_duration(text)
    if seconds <= 0:
        raise ConfigError(f"{option} must be longer than zero, got {text!r}", hint=f"e.g. {option} 10s")
    return seconds


def positive_size(option: str, text: str) -> float:
    """Bytes in ``text``: a Kubernetes quantity (``50Mi``, ``64M``) with an optional trailing ``B`` (``64MB``,
    ``50MiB``); a usage error unless larger than zero."""
    from leaksleuth.errors import FetchError
    from leaksleuth.integrations.kubernetes import parse_quantity

    spec = text.strip()
    try:
        size = parse_quantity(spec.removesuffix("B"))
    except FetchError:
        size = 0.0
    if size < 1:
        raise ConfigError(f"{option} must be a size larger than zero, got {text[:40]!r}", hint=f"e.g. {option} 50Mi")
    return size


def check_writable(path: Path) -> None:
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir():
        raise ConfigError(f"cannot write {path}: no directory {directory}")
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a directory")


def read_secret(path: Path, option: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{option}: cannot read {path}: {exc.strerror or exc}") from exc


def write_output(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise LeaksleuthError(f"cannot write {path}: {exc.strerror or exc}") from exc


def parse_headers(items: list[str]) -> dict[str, str]:
    headers = {}
    for item in items:
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise ConfigError(f"--header must look like 'Name: value', got {item!r}")
        headers[name.strip()] = value.strip()
    return headers


@contextlib.contextmanager
def stop_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for SIGINT and SIGTERM while the block runs; the previous handlers come back after it."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
