"""Target discovery: DNS (A/AAAA or SRV of a headless service), Kubernetes pods by annotation, Prometheus targets.

Every source is re-read while watching (pods and endpoints come and go); a source that fails keeps the targets it
found last time and reports why, so one broken source never empties the fleet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from leaksleuth.errors import ConfigError, FetchError, LeaksleuthError
from leaksleuth.extras import require_extra
from leaksleuth.model.target import Shard, Target, TargetSource, dedupe, make_target

SCRAPE_ANNOTATION = "leaksleuth.io/scrape"
PORT_ANNOTATION = "leaksleuth.io/port"
SCHEME_ANNOTATION = "leaksleuth.io/scheme"
SERVICE_LABELS = ("app.kubernetes.io/name", "app", "k8s-app")

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


# ---- Kubernetes --------------------------------------------------------------------------------------------------


def kubernetes_api(*, kubeconfig: str | None = None, api_client: Any = None) -> Any:
    """A CoreV1Api: from ``api_client`` (tests), in-cluster credentials, or a kubeconfig."""
    require_extra("k8s", "kubernetes")
    from kubernetes import client, config

    if api_client is not None:
        return client.CoreV1Api(api_client)
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(f"no Kubernetes configuration: {exc}", hint="set KUBECONFIG or --kubeconfig") from exc
    return client.CoreV1Api()


def _kubernetes_call(what: str, call: Callable[[], Any]) -> Any:
    from kubernetes import client

    try:
        return call()
    except client.ApiException as exc:
        raise FetchError(f"Kubernetes API ({what}): {exc.status} {exc.reason}") from exc
    except Exception as exc:  # urllib3 / socket errors surface as many types; report them as one fetch failure
        raise FetchError(f"Kubernetes API unreachable ({what}): {type(exc).__name__}: {exc}") from exc


def kubernetes_source(
    *,
    namespace: str | None = None,
    selector: str | None = None,
    kubeconfig: str | None = None,
    api_client: Any = None,
) -> Source:
    """Running pods annotated ``leaksleuth.io/scrape: "true"``; port from ``leaksleuth.io/port`` (default 6060)."""
    require_extra("k8s", "kubernetes")
    api: list[Any] = []

    def list_pods() -> list[Target]:
        if not api:
            api.append(kubernetes_api(kubeconfig=kubeconfig, api_client=api_client))
        core = api[0]
        if namespace:
            pods = _kubernetes_call("list pods", lambda: core.list_namespaced_pod(namespace, label_selector=selector))
        else:
            pods = _kubernetes_call("list pods", lambda: core.list_pod_for_all_namespaces(label_selector=selector))
        return [t for t in (_pod_target(pod) for pod in pods.items) if t is not None]

    async def discover() -> list[Target]:
        return await asyncio.to_thread(list_pods)

    return discover


def pod_target(namespace: str, name: str, *, kubeconfig: str | None = None, api_client: Any = None) -> Target:
    """The pprof base URL of one pod (an alert names it): its IP and ``leaksleuth.io/port`` (default 6060).

    The scrape annotation is not required here: the alert asked for this pod explicitly."""
    core = kubernetes_api(kubeconfig=kubeconfig, api_client=api_client)
    pod = _kubernetes_call(f"read pod {namespace}/{name}", lambda: core.read_namespaced_pod(name, namespace))
    target = _pod_target(pod, require_annotation=False)
    if target is None:
        phase = pod.status.phase if pod.status else "unknown"
        raise FetchError(f"pod {namespace}/{name} is not running with an IP (phase {phase})")
    return target


def _pod_target(pod: Any, *, require_annotation: bool = True) -> Target | None:
    metadata = pod.metadata
    annotations = metadata.annotations or {}
    if require_annotation and str(annotations.get(SCRAPE_ANNOTATION, "")).lower() != "true":
        return None
    status = pod.status
    if status is None or status.phase != "Running" or not status.pod_ip:
        return None
    port = str(annotations.get(PORT_ANNOTATION, "6060"))
    scheme = str(annotations.get(SCHEME_ANNOTATION, "http"))
    labels = metadata.labels or {}
    service = next((labels[key] for key in SERVICE_LABELS if key in labels), "")
    if not service and metadata.owner_references:
        service = metadata.owner_references[0].name
    address = f"[{status.pod_ip}]" if ":" in status.pod_ip else status.pod_ip
    return make_target(
        f"{scheme}://{address}:{port}",
        service or metadata.name,
        {"namespace": metadata.namespace or "", "pod": metadata.name},
    )


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
