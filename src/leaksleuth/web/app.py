"""The HTTP API (FastAPI): a thin adapter over ``web.core.AlertService``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from leaksleuth import __version__
from leaksleuth.app.capture import AlertService, ServiceBusy
from leaksleuth.app.webhook import AlertPayloadError, parse_body

RETRY_AFTER = "10"  # seconds, for a 429 (capture queue full) or 503 (stopping)
MAX_ID = 2**63 - 1  # the largest id a database integer holds


def create_app(service: AlertService, listen: tuple[str, int] | None = None, *, metrics_auth: bool = True) -> FastAPI:
    """The API; with ``listen`` (HOST, PORT) and no token, requests must name this server in ``Host`` (a page
    reaching a --no-auth serve through a rebound DNS name is refused). ``/metrics`` names every target: it asks for
    the token too unless ``metrics_auth`` is False (a Prometheus without the token)."""
    # long on purpose: the routes are closures over ``service`` (no module globals), a few lines each

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.recover()  # claims an earlier server left capturing
        service.start()
        try:
            yield
        finally:
            await service.close()  # SIGTERM: queued captures released, running ones given their grace

    app = FastAPI(title="leaksleuth", version=__version__, docs_url="/docs", redoc_url=None, lifespan=lifespan)
    hosts = this_server(*listen) if listen is not None and not service.token else None

    @app.middleware("http")
    async def same_host(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if hosts is not None and request.headers.get("host", "").lower() not in hosts:
            return JSONResponse({"error": "Host does not name this server (its listen address)"}, status_code=421)
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        # one error shape for every route: {"error": "..."}
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    def require_token(request: Request) -> None:
        # alerts start captures; reports name internal files, functions and hosts: both need the token
        if not service.authorized(request.headers.get("authorization")):
            raise HTTPException(
                status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    @app.post("/alerts", status_code=202)
    async def alerts(request: Request) -> JSONResponse:
        require_token(request)
        # a browser page can POST text/plain or a form anywhere without asking; only JSON from a non-browser passes
        if request.headers.get("origin") is not None:
            return JSONResponse({"error": "requests from a web page (with Origin) are refused"}, status_code=403)
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            return JSONResponse({"error": "Content-Type must be application/json"}, status_code=415)
        try:
            payload = parse_body(await _body(request, service.capture_config.max_body))
            receipt = await service.receive(payload)
        except AlertPayloadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ServiceBusy as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": RETRY_AFTER})
        if receipt.deferred:  # the capture queue is full: Alertmanager retries a 429, the accepted are duplicates
            return JSONResponse(receipt.to_json(), status_code=429, headers={"Retry-After": RETRY_AFTER})
        return JSONResponse(receipt.to_json(), status_code=202)

    @app.get("/reports")
    async def reports(request: Request, limit: int = 100) -> list[dict[str, Any]]:
        require_token(request)
        return await asyncio.to_thread(service.reports, limit=min(max(limit, 1), 1000))

    @app.get("/reports/{report_id}")
    async def report(request: Request, report_id: int) -> dict[str, Any]:
        require_token(request)
        # an id past the database's integer overflowed in the driver (a 500): no such report
        found = await asyncio.to_thread(service.report, report_id) if 0 < report_id <= MAX_ID else None
        if found is None:
            raise HTTPException(status_code=404, detail=f"no report {str(report_id)[:24]}")
        return found

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        if metrics_auth:
            require_token(request)
        return Response(service.metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        service.store.ping()  # the database answers
        return {"status": "ok"}

    return app


def this_server(host: str, port: int) -> frozenset[str]:
    """The ``Host`` values naming a server listening on HOST:PORT (a loopback server also by its loopback names)."""
    import ipaddress

    bare = host.strip("[]").lower()
    names = {bare}
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(bare).is_loopback:
            names |= {"localhost", "127.0.0.1", "::1"}
    if bare == "localhost":
        names |= {"127.0.0.1", "::1"}
    shown = {f"[{name}]" if ":" in name else name for name in names}
    return frozenset({f"{name}:{port}" for name in shown} | (shown if port == 80 else set()))


async def _body(request: Request, cap: int) -> bytes:
    """The request body, refused (413) past ``cap`` bytes: by its Content-Length, else while it streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise AlertPayloadError(f"body of {int(declared):,} bytes, more than the {cap:,} accepted", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise AlertPayloadError(f"body of more than the {cap:,} bytes accepted", status=413)
        chunks.append(chunk)
    return b"".join(chunks)
