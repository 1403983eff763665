"""``serve --watch``: the watcher beside the HTTP server, in one event loop, stopping together."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer

from leaksleuth.cli import EXIT_ERROR
from leaksleuth.cli.options import stop_signals

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from leaksleuth.app.capture import AlertService
    from leaksleuth.app.live import Event, LiveFleet
    from leaksleuth.collect.discovery import Discovery

SHUTDOWN_GRACE = 3  # seconds uvicorn waits for open requests (SSE streams never end by themselves)


def live_fleet(
    discovery: Discovery,
    service: AlertService,
    *,
    interval: float,
    timeout: float,
    json_lines: bool,
    retention: tuple[float | None, int | None],
    replica: str | None = None,
) -> LiveFleet:
    """A Watcher over ``discovery`` writing to the service's store, its events and gauges on the service's /metrics;
    with ``replica`` (--scale-out), over this replica's share of it (``app.membership``)."""
    from leaksleuth.app.live import LiveFleet
    from leaksleuth.app.membership import Membership
    from leaksleuth.app.watch import Watcher
    from leaksleuth.app.watch_config import WatchConfig
    from leaksleuth.collect.scrape_config import ScrapeConfig

    config = WatchConfig(interval=interval, retention_age=retention[0], retention_count=retention[1])
    membership = Membership(service.store, replica, interval=interval) if replica else None
    targets = membership.share(discovery) if membership else discovery
    watcher = Watcher(targets, ScrapeConfig(timeout=timeout), config, store=service.store)
    return LiveFleet(watcher, service.registry, sink=_write_line if json_lines else None, membership=membership)


def _write_line(event: Event) -> None:
    sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    sys.stdout.flush()


def run(app: FastAPI, host: str, port: int, live: LiveFleet | None, *, duration: float | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or ``duration`` seconds, with ``live``); with ``live``, watch too. The watch
    failing (the store gone) stops the server and exits 3 with its error; stopping the server stops the watch,
    which finishes the rounds' store writes."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE)
    server = uvicorn.Server(config)
    if live is None:
        server.run()
        return
    failure = None
    # a SIGTERM/SIGINT stop ends in _Stopped once the watch has finished its writes (_serve_and_watch's finally)
    with _stop_signals_raise(), contextlib.suppress(_Stopped):
        failure = asyncio.run(_serve_and_watch(server, live, duration))
    if failure is not None:
        typer.echo(f"leaksleuth serve: the watch stopped: {type(failure).__name__}: {failure}", err=True)
        raise typer.Exit(EXIT_ERROR)


class _Stopped(Exception):
    """SIGTERM or SIGINT, raised where uvicorn re-raises the signal after its graceful shutdown."""


@contextlib.contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """uvicorn catches SIGTERM/SIGINT, shuts down, then raises the signal again for the handler it found: with the
    default one SIGTERM kills the process on the spot, before the watch stops and the demo's Go processes are
    ended. Our handler turns it into an exception, so every ``finally`` runs."""

    def stopped(signum: int, frame: object) -> None:
        raise _Stopped(signal.Signals(signum).name)

    with stop_signals(stopped):
        yield


async def _serve_and_watch(server: uvicorn.Server, live: LiveFleet, duration: float | None) -> BaseException | None:
    loop = asyncio.get_running_loop()
    watching = loop.create_task(live.run())

    def stop_server(*_: object) -> None:
        server.should_exit = True

    watching.add_done_callback(stop_server)
    if duration is not None:
        loop.call_later(duration, stop_server)
    try:
        await server.serve()
    finally:
        live.stop()
        live.hub.close()
        await asyncio.gather(watching, return_exceptions=True)
    if watching.cancelled():
        return None
    return watching.exception()
