"""Target discovery options shared by ``watch`` and ``serve --watch``: one declaration, one builder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leaksleuth.errors import ConfigError

if TYPE_CHECKING:
    from leaksleuth.collect.discovery import Discovery

Opt = typer.Option

Urls = Annotated[list[str] | None, typer.Argument(help="Base URLs of services mounting net/http/pprof.")]
TargetsFile = Annotated[Path | None, Opt(help="YAML, or one URL a line with service=… key=value labels.")]
Dns = Annotated[list[str] | None, Opt(help="NAME:PORT: every A/AAAA record of a headless service.")]
DnsSrv = Annotated[list[str] | None, Opt(help="SRV name (e.g. _pprof._tcp.api.prod.svc).")]
DnsServer = Annotated[str | None, Opt(help="Nameserver HOST[:PORT] for --dns/--dns-srv.")]
K8s = Annotated[bool, Opt("--k8s", help="Discover pods annotated leaksleuth.io/scrape=true.")]
Namespace = Annotated[str | None, Opt(help="Kubernetes namespace (default: all).")]
Selector = Annotated[str | None, Opt(help="Kubernetes label selector.")]
Kubeconfig = Annotated[str | None, Opt(help="Path to a kubeconfig.")]
PrometheusTargets = Annotated[str | None, Opt(help="Prometheus URL: watch its active targets.")]
Job = Annotated[str | None, Opt(help="Only Prometheus targets of this job.")]
Shard = Annotated[str | None, Opt(help="i/n: watch only a stable hash share of the targets.")]


def build_discovery(
    urls: list[str],
    targets_file: Path | None,
    dns: list[str],
    dns_srv: list[str],
    dns_server: str | None,
    k8s: bool,
    namespace: str | None,
    selector: str | None,
    kubeconfig: str | None,
    prometheus_targets: str | None,
    job: str | None,
    shard: str | None,
    *,
    command: str = "watch",
) -> Discovery:
    from leaksleuth.collect import discovery as found
    from leaksleuth.collect.targets import parse_shard, parse_targets_file
    from leaksleuth.integrations.kubernetes import kubernetes_source
    from leaksleuth.integrations.prometheus import prometheus_source
    from leaksleuth.model.target import make_target

    static = [make_target(url) for url in urls]
    if targets_file is not None:
        static.extend(parse_targets_file(targets_file))
    sources: list[tuple[str, found.Source]] = []
    sources += [(f"dns {name}", found.dns_source(name, nameserver=dns_server)) for name in dns]
    sources += [(f"dns-srv {name}", found.dns_srv_source(name, nameserver=dns_server)) for name in dns_srv]
    if k8s:
        sources.append(("kubernetes", kubernetes_source(namespace=namespace, selector=selector, kubeconfig=kubeconfig)))
    if prometheus_targets:
        sources.append((f"prometheus {prometheus_targets}", prometheus_source(prometheus_targets, job=job)))
    if not static and not sources:
        raise ConfigError(
            "no targets: give URLs, --targets-file, --dns, --dns-srv, --k8s or --prometheus-targets",
            hint=f"e.g. leaksleuth {command} http://127.0.0.1:6060",
        )
    return found.Discovery(static, sources, shard=parse_shard(shard) if shard else None)
