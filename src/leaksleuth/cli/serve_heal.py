"""``serve --heal``: self-healing inside the always-on service. Each alert's capture is the evidence of trigger (a),
each ``--watch`` round's verdicts trigger (b), OOM kills (c) come from the pod watch; every decision lands in the
service's store (the Captures & actions page, ``heal history``) and ``leaksleuth_remediations_total`` on its
``/metrics``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from leaksleuth.app.capture import AlertService
    from leaksleuth.app.heal_loop import HealBackground
    from leaksleuth.app.heal_records import Decision
    from leaksleuth.app.live import LiveFleet
    from leaksleuth.cli.heal_options import HealOptions


def attach_healing(
    app: FastAPI,
    service: AlertService,
    live: LiveFleet | None,
    options: HealOptions,
    *,
    kubeconfig: str | None,
    namespace: str | None,
    selector: str | None,
    json_lines: bool,
) -> None:
    """The healer on the service's store and registry, its background started and stopped with the server."""
    from leaksleuth.app.heal import Healer
    from leaksleuth.app.heal_loop import HealBackground, LoopConfig
    from leaksleuth.integrations.kubernetes import Kubernetes, kubernetes_api_client

    capture = service.capture_config
    config = options.config(samples=capture.samples, every=capture.every, timeout=capture.timeout)
    api_client = capture.kubernetes_client or kubernetes_api_client(kubeconfig=kubeconfig)
    journal = sys.stdout if json_lines else None  # one JSON line per decision, beside the verdict events
    healer = Healer(Kubernetes(api_client), service.store, config, registry=service.registry, journal=journal)
    service.on_report = healer.on_alert
    background = HealBackground(
        healer,
        api_client,
        LoopConfig(namespace, selector, timeout=capture.timeout),
        on_decision=_say,
        on_notice=_say_text,
        on_failure=lambda error: _say_text(f"self-healing failed: {type(error).__name__}: {error}"),
    )
    _run_beside(app, background)
    if live is not None:
        live.after_round = background.on_round
    mode = f"dry run of {config.remedy}" if config.simulated else config.remedy
    _say_text(f"self-healing: {mode} in {namespace or 'all namespaces'}")


def _run_beside(app: FastAPI, background: HealBackground) -> None:
    """Start the background with the server's lifespan and stop it with it (inside any lifespan already set)."""
    before = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        async with before(asgi_app) as state:
            await background.start()
            try:
                yield state
            finally:
                await background.stop()

    app.router.lifespan_context = lifespan


def _say(decision: Decision) -> None:
    _say_text(f"{decision.result} {decision.namespace}/{decision.pod}: {decision.reason}")


def _say_text(text: str) -> None:
    typer.echo(f"leaksleuth serve: {text}", err=True)
