"""Targets: base URLs of Go services that mount net/http/pprof, grouped by service for peer comparison.

Sources: URLs on the command line, a targets file (YAML, or one URL a line with ``service=… key=value`` labels),
and discovery (DNS, Kubernetes, Prometheus; see ``collect.discovery``). ``--shard i/n`` keeps a stable hash share.
The ``Target`` itself is in ``model.target``; this module reads what users write.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from leaksleuth.errors import ConfigError
from leaksleuth.model.target import Shard, Target, make_target

_PLAIN_LINE = re.compile(r"^\s*(https?://)?[\w.\-\[\]:]+(/\S*)?(\s+\S+=\S*)*\s*$")


def parse_targets_file(path: str | Path) -> list[Target]:
    """YAML (a list, or ``targets:``) of URLs or ``{url, service, labels}``; or plain text, one target a line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read targets file {path}: {exc.strerror}") from exc
    stripped = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    looks_plain = all(_PLAIN_LINE.match(line) for line in stripped)
    if looks_plain:
        return [_plain_line(line, number) for number, line in enumerate(stripped, 1)]
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"targets file {path} is neither YAML nor one URL a line: {exc}") from exc
    entries: Any = document.get("targets") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        bad = next((line for line in stripped if not _PLAIN_LINE.match(line)), stripped[0] if stripped else "")
        raise ConfigError(
            f"targets file {path}: not a YAML list of targets, and this line is not 'URL [key=value …]': {bad!r}"
        )
    return [_yaml_entry(entry, path) for entry in entries]


def _plain_line(line: str, number: int) -> Target:
    url, *pairs = line.split()
    labels = {}
    service = ""
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "service":
            service = value
        else:
            labels[key] = value
    return make_target(url, service, labels)


def _yaml_entry(entry: Any, path: str | Path) -> Target:
    if isinstance(entry, str):
        return make_target(entry)
    if isinstance(entry, dict) and isinstance(entry.get("url"), str):
        labels = entry.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError(f"targets file {path}: labels of {entry['url']} must be a mapping")
        return make_target(entry["url"], str(entry.get("service") or ""), {str(k): str(v) for k, v in labels.items()})
    raise ConfigError(f"targets file {path}: cannot read target {entry!r} (want a URL or {{url, service, labels}})")


def parse_shard(text: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ConfigError(f"--shard must look like i/n with 1 <= i <= n, got {text!r}", hint="e.g. --shard 2/4")
    return Shard(int(match.group(1)), int(match.group(2)))
