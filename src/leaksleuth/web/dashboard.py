"""The dashboard's routes: mounted beside the API of ``web.app`` by ``serve``."""

from __future__ import annotations

from fastapi import FastAPI

from leaksleuth.app.capture import AlertService
from leaksleuth.app.live import LiveFleet
from leaksleuth.web.events import mount_events


def mount_pages(app: FastAPI, service: AlertService, live: LiveFleet | None) -> None:
    mount_events(app, service, live)
