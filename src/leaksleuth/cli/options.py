"""Small helpers the commands share: secrets, headers, output files checked before long work."""

from __future__ import annotations

from pathlib import Path

from leaksleuth.errors import ConfigError, LeaksleuthError


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
