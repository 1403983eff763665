"""``GET /events``: Server-Sent Events of the live watch (verdict changes and the end of each round)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse

from leaksleuth.app.capture import AlertService
from leaksleuth.app.live import LiveFleet, Subscription
from leaksleuth.web.session import signed_in

KEEPALIVE = 15.0  # seconds between comments on an idle stream: proxies drop silent connections
RECONNECT_MS = 3000  # what EventSource waits before reconnecting after a stream ends


def mount_events(app: FastAPI, service: AlertService, live: LiveFleet | None) -> None:
    @app.get("/events")
    async def events(request: Request) -> StreamingResponse:
        if not signed_in(request, service):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        if live is None:
            raise HTTPException(404, "no live events: the server runs without --watch")
        subscription = live.hub.subscribe()
        if subscription is None:
            raise HTTPException(503, "too many event streams open", headers={"Retry-After": "10"})
        return StreamingResponse(
            _stream(live, subscription),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


async def _stream(live: LiveFleet, subscription: Subscription) -> AsyncIterator[str]:
    """Events until the subscription is dropped (fell behind, or the server stops) or the client goes away
    (the response is cancelled: ``finally`` unsubscribes)."""
    try:
        yield f"retry: {RECONNECT_MS}\n\n"
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            # json.dumps escapes newlines: one data line per event, whatever a target's strings hold
            yield f"event: {event['event']}\ndata: {json.dumps(event, sort_keys=True)}\n\n"
            if subscription.dropped and subscription.queue.empty():
                return
    finally:
        live.hub.unsubscribe(subscription)
