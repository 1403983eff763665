"""Target discovery: DNS (A/AAAA or SRV of a headless service); Kubernetes pods (``integrations.kubernetes``) and
Prometheus targets (``integrations.prometheus``) are sources of the same shape.

Every source is re-read while watching (pods and endpoints come and go); a source that fails keeps the targets it
found last time and reports why, so one broken source never empties the fleet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from leaksleuth.errors import ConfigError, FetchError, LeaksleuthError
from leaksleuth.extras import require_extra
from leaksleuth.model.target import Shard, Target, TargetSource, dedupe, make_target

Source = TargetSource


# ---- DNS ---------------------------------------------------------------------------------------------------------


def dns_source(name_and_port: str, *, nameserver: str | None = None, scheme: str = "http") -> Source:
    """``NAME:PORT``: every A/AAAA record of NAME (a headless Service) is one instance of service NAME."""
    name, _, port = name_and_port.rpartition(":")
    if not name or not port.isdigit():
        raise ConfigError(f"--dns wants NAME:PORT, got {name_and_port!r}", hint="e.g. --dns api.prod.svc:6060")
    require_extra("service", "dns")  # when the source is made (options), not at the first round

    async def discover() -> list[Target]:
        addresses: list[str] = []
        for record_type in ("A", "AAAA"):
            for answer in await _resolve(name, record_type, nameserver):
                address = answer.to_text()
                addresses.append(f"[{address}]" if ":" in address else address)
        if not addresses:
            raise FetchError(f"DNS: {name} has no A/AAAA records")
        service = name.split(".")[0]
        return [make_target(f"{scheme}://{a}:{port}", service, {"dns": name}) for a in sorted(addresses)]

    return discover


def dns_srv_source(name: str, *, nameserver: str | None = None, scheme: str = "http") -> Source:
    """``_pprof._tcp.api.prod.svc``: every SRV record (host, port) is one instance."""
    require_extra("service", "dns")

    async def discover() -> list[Target]:
        answers = await _resolve(name, "SRV", nameserver)
        if not answers:
            raise FetchError(f"DNS: {name} has no SRV records")
        service = next((part for part in name.split(".") if not part.startswith("_")), name)
        return [
            make_target(f"{scheme}://{str(answer.target).rstrip('.')}:{answer.port}", service, {"dns": name})
            for answer in sorted(answers, key=lambda a: (str(a.target), a.port))
        ]

    return discover


async def _resolve(name: str, record_type: str, nameserver: str | None) -> list[Any]:
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    resolver = dns.asyncresolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        host, _, port = nameserver.rpartition(":") if nameserver.count(":") == 1 else (nameserver, "", "53")
        resolver.nameservers = [host]
        resolver.port = int(port or 53)
    resolver.lifetime = 5.0
    try:
        answer = await resolver.resolve(name, record_type)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        raise FetchError(f"DNS lookup of {name} ({record_type}) failed: {exc}") from exc
    return list(answer)


# ---- combining ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Discovery:
    """Static targets plus discovery sources, refreshed at most every ``refresh`` seconds, sharded, de-duplicated."""

    static: list[Target] = field(default_factory=list)
    sources: Sequence[tuple[str, Source]] = ()
    refresh: float = 30.0
    shard: Shard | None = None
    errors: dict[str, str] = field(default_factory=dict)
    _found: dict[str, list[Target]] = field(default_factory=dict)
    _refreshed: float = 0.0

    async def __call__(self) -> list[Target]:
        now = time.monotonic()
        if self.sources and (not self._refreshed or now - self._refreshed >= self.refresh):
            self._refreshed = now
            outcomes = await asyncio.gather(*(source() for _, source in self.sources), return_exceptions=True)
            for (name, _), outcome in zip(self.sources, outcomes, strict=True):
                if isinstance(outcome, LeaksleuthError):
                    self.errors[name] = str(outcome)
                elif isinstance(outcome, BaseException):
                    raise outcome
                else:
                    self._found[name] = outcome
                    self.errors.pop(name, None)
        targets = dedupe([*self.static, *(t for found in self._found.values() for t in found)])
        if self.shard is not None:
            targets = [t for t in targets if self.shard.keeps(t)]
        return targets
