"""``leaksleuth serve``: receive Alertmanager webhooks, capture and analyse the alerting instance, keep reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from leaksleuth.errors import ConfigError


def command(
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:9477",
    token_file: Annotated[Path | None, typer.Option(help="File with the bearer token Alertmanager sends.")] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept webhooks without a token (loopback only!).")
    ] = False,
    target_template: Annotated[
        str,
        typer.Option(
            help="Alert labels -> pprof base URL: {label} for any alert label, and {instance_host} (or "
            "{instance_ip}) and {instance_port} split from instance. "
            "'kubernetes' resolves the namespace/pod labels to the pod's IP and leaksleuth.io/port."
        ),
    ] = "http://{instance_host}:6060",
    kubeconfig: Annotated[str | None, typer.Option(help="kubeconfig for --target-template kubernetes.")] = None,
    samples: Annotated[int, typer.Option(help="Snapshots per capture.")] = 3,
    every: Annotated[str, typer.Option(help="Time between snapshots of a capture.")] = "5s",
    timeout: Annotated[float, typer.Option(help="Seconds per request to the instance.")] = 10.0,
    store: Annotated[str | None, typer.Option(help="Store directory, sqlite:/// or postgresql:// URL.")] = None,
    blobs: Annotated[str | None, typer.Option(help="fsspec URL for blobs (with a database URL).")] = None,
) -> None:
    """Serve POST /alerts (Alertmanager webhook v4), GET /reports, /reports/{id}, /metrics and /healthz."""
    from leaksleuth.extras import require_extra

    require_extra("service", "fastapi", "uvicorn", "sqlalchemy", "fsspec")  # before any option is acted on
    import uvicorn

    from leaksleuth.app.capture import AlertService, CaptureConfig
    from leaksleuth.cli.options import read_secret
    from leaksleuth.durations import parse_duration
    from leaksleuth.store.db import open_store
    from leaksleuth.web.app import create_app

    # an explicit --token-file wins over the environment
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
    # checked before the store opens and the port is taken: a bad template would otherwise fail every alert
    capture = CaptureConfig(
        template=target_template,
        samples=samples,
        every=parse_duration(every),
        timeout=timeout,
        kubeconfig=kubeconfig,
    )
    service = AlertService(open_store(store, blobs), token=token, capture=capture)
    auth = "bearer token required" if token else "no auth (loopback)"
    typer.echo(f"leaksleuth serve: listening on http://{listen} ({auth}); store {service.store.description}", err=True)
    uvicorn.run(create_app(service), host=host.strip("[]"), port=int(port), log_level="warning")


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
