"""``leaksleuth serve``: receive Alertmanager webhooks, capture and analyse the alerting instance, keep reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from leaksleuth.cli import discovery_options as found
from leaksleuth.cli import heal_options as policy
from leaksleuth.errors import ConfigError


def command(
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:9477",
    token_file: Annotated[Path | None, typer.Option(help="File with the bearer token Alertmanager sends.")] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept webhooks without a token (loopback only!).")
    ] = False,
    metrics_auth: Annotated[
        bool,
        typer.Option(
            "--metrics-auth/--no-metrics-auth", help="/metrics (it names every target) needs the bearer token too."
        ),
    ] = True,
    target_template: Annotated[
        str,
        typer.Option(
            help="Alert labels -> pprof base URL: {label} for any alert label, and {instance_host} (or "
            "{instance_ip}) and {instance_port} split from instance. "
            "'kubernetes' resolves the namespace/pod labels to the pod's IP and leaksleuth.io/port."
        ),
    ] = "http://{instance_host}:6060",
    kubeconfig: Annotated[str | None, typer.Option(help="kubeconfig for --target-template kubernetes.")] = None,
    allow_cidr: Annotated[
        list[str] | None,
        typer.Option(
            help="Networks an alert's target may be in (repeat; default: 10/8, 172.16/12, 192.168/16, fc00::/7 "
            "and loopback)."
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None, typer.Option(help="Host names allowed whatever they resolve to (repeat; *.suffix).")
    ] = None,
    allow_port: Annotated[
        list[int] | None, typer.Option(help="Ports an alert's target may use (repeat; default: any).")
    ] = None,
    max_body: Annotated[int, typer.Option(min=1, help="Bytes accepted in one webhook (413 past it).")] = 1 << 20,
    max_alerts: Annotated[int, typer.Option(min=1, help="Alerts accepted in one webhook (413 past it).")] = 1000,
    capture_queue: Annotated[
        int, typer.Option(min=1, help="Targets queued or being captured; more alerts get 429 (Alertmanager retries).")
    ] = 256,
    drain_grace: Annotated[
        float, typer.Option(min=0, help="Seconds running captures may finish in after SIGTERM.")
    ] = 10.0,
    samples: Annotated[int, typer.Option(help="Snapshots per capture.")] = 3,
    every: Annotated[str, typer.Option(help="Time between snapshots of a capture.")] = "5s",
    timeout: Annotated[float, typer.Option(help="Seconds per request to the instance.")] = 10.0,
    store: Annotated[str | None, typer.Option(help="Store directory, sqlite:/// or postgresql:// URL.")] = None,
    blobs: Annotated[str | None, typer.Option(help="fsspec URL for blobs (with a database URL).")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Also watch targets (the options below), always on.")] = False,
    urls: found.Urls = None,
    targets_file: found.TargetsFile = None,
    dns: found.Dns = None,
    dns_srv: found.DnsSrv = None,
    dns_server: found.DnsServer = None,
    k8s: found.K8s = False,
    namespace: found.Namespace = None,
    selector: found.Selector = None,
    prometheus_targets: found.PrometheusTargets = None,
    job: found.Job = None,
    shard: found.Shard = None,
    interval: Annotated[str, typer.Option(help="--watch: time between rounds.")] = "15s",
    json_lines: Annotated[bool, typer.Option("--json-lines", help="--watch: verdict changes as JSON lines.")] = False,
    retention_age: Annotated[str | None, typer.Option(help="--watch: drop snapshots older than this.")] = None,
    scale_out: Annotated[
        bool, typer.Option("--scale-out", help="--watch: divide the targets with the replicas sharing --store.")
    ] = False,
    replica_id: Annotated[str | None, typer.Option(help="--scale-out: this replica's name (default host-pid).")] = None,
    retention_count: Annotated[
        int | None, typer.Option(min=1, help="--watch: snapshots kept per target, kind.")
    ] = None,
    heal: Annotated[
        bool, typer.Option("--heal", help="Self-healing of Kubernetes pods (the options below; leaksleuth heal).")
    ] = False,
    action: policy.Action = None,
    dry_run: policy.DryRun = False,
    keep: policy.Keep = None,
    heal_on: policy.HealOn = None,
    heal_at: policy.HealAt = None,
    rate: policy.Rate = None,
    max_actions: policy.MaxActions = None,
    breaker: policy.Breaker = None,
    allow_single: policy.AllowSingle = False,
    opt_in_namespace: policy.OptInNamespace = None,
) -> None:
    """Serve POST /alerts (Alertmanager webhook v4), GET /reports, /reports/{id}, /metrics and /healthz."""
    # long on purpose: every usage error is raised here, before anything is opened or bound, in the order of
    # --help; the work itself is in the functions this calls
    from leaksleuth.extras import require_extra

    require_extra("service", "fastapi", "uvicorn", "sqlalchemy", "fsspec")  # before any option is acted on
    from leaksleuth.app.capture import AlertService, CaptureConfig
    from leaksleuth.app.membership import default_member_id
    from leaksleuth.app.targeting import TargetPolicy
    from leaksleuth.cli.discovery_options import build_discovery
    from leaksleuth.cli.options import positive_duration
    from leaksleuth.cli.serve_watch import live_fleet, run
    from leaksleuth.durations import parse_duration
    from leaksleuth.store.db import open_store
    from leaksleuth.web.app import create_app
    from leaksleuth.web.dashboard import mount_pages

    token, host, port = _auth_and_address(token_file, no_auth, listen)
    # checked before the store opens and the port is taken: a bad template would otherwise fail every alert
    capture = CaptureConfig(
        template=target_template,
        samples=samples,
        every=parse_duration(every),
        timeout=timeout,
        kubeconfig=kubeconfig,
        policy=TargetPolicy.from_options(allow_cidr, allow_host or (), allow_port or ()),
        max_body=max_body,
        max_alerts=max_alerts,
        queue=capture_queue,
        drain_grace=drain_grace,
    )
    healing = policy.HealOptions(
        action, dry_run, keep, heal_on, heal_at, rate, max_actions, breaker, allow_single, opt_in_namespace
    )
    if not heal and healing.given():
        raise ConfigError(f"{', '.join(healing.given())}: self-healing options need --heal")
    if heal:
        healing.config(samples=capture.samples, every=capture.every, timeout=capture.timeout)  # checked now
    discovery = None
    if watch:  # every usage error before the store opens and the port is taken
        every_round = positive_duration("--interval", interval)
        ages = positive_duration("--retention-age", retention_age) if retention_age else None
        discovery = build_discovery(
            *(urls or [], targets_file, dns or [], dns_srv or [], dns_server, k8s, namespace, selector),
            *(kubeconfig, prometheus_targets, job, shard),
            command="serve --watch",
        )
    elif urls or targets_file or dns or dns_srv or k8s or prometheus_targets or scale_out:
        raise ConfigError("targets to watch need --watch", hint="leaksleuth serve --watch http://127.0.0.1:6060")
    service = AlertService(open_store(store, blobs), token=token, capture=capture)
    app = create_app(service, (host, int(port)), metrics_auth=metrics_auth)
    live = None
    if discovery is not None:
        live = live_fleet(
            discovery,
            service,
            interval=every_round,
            timeout=timeout,
            json_lines=json_lines,
            retention=(ages, retention_count),
            replica=(replica_id or default_member_id()) if scale_out else None,
        )
    if heal:
        from leaksleuth.cli.serve_heal import attach_healing

        attach_healing(
            app,
            service,
            live,
            healing,
            kubeconfig=kubeconfig,
            namespace=namespace,
            selector=selector,
            json_lines=json_lines,
        )
    mount_pages(app, service, live)
    auth = "bearer token required" if token else "no auth (loopback)"
    typer.echo(f"leaksleuth serve: listening on http://{listen} ({auth}); store {service.store.description}", err=True)
    run(app, host.strip("[]"), int(port), live)


def _auth_and_address(token_file: Path | None, no_auth: bool, listen: str) -> tuple[str | None, str, str]:
    """The bearer token (an explicit --token-file wins over LEAKSLEUTH_TOKEN) and --listen's host and port; no
    token only on loopback."""
    from leaksleuth.cli.options import read_secret

    token = read_secret(token_file, "--token-file") if token_file else os.environ.get("LEAKSLEUTH_TOKEN")
    if not token and not no_auth:
        raise ConfigError("no bearer token", hint="--token-file FILE or LEAKSLEUTH_TOKEN (or --no-auth on loopback)")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--listen wants HOST:PORT, got {listen!r}")
    if no_auth and not token and not _loopback(host.strip("[]")):
        raise ConfigError(
            f"--no-auth only on a loopback address, not {host}", hint="give a token, or --listen 127.0.0.1:PORT"
        )
    return token, host, port


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
