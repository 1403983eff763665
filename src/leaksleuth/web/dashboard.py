"""The dashboard's routes, mounted beside the API of ``web.app`` by ``serve``: Fleet, Instance (charts, suspects,
buckets, heap sites, flame graphs, downloads), Captures & actions, and the login page.

Pages are server-rendered (``web.render``: Jinja2, autoescape on); the little JavaScript they carry draws charts
and reloads rows the server rendered. Reading needs the serve token: a bearer header, or the cookie the login page
sets; a browser without it is sent to the login page, a script gets 401.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from leaksleuth.app import dashboard as views
from leaksleuth.app.capture import AlertService
from leaksleuth.app.live import LiveFleet
from leaksleuth.errors import LeaksleuthError
from leaksleuth.report.flame import script_json
from leaksleuth.web.events import mount_events
from leaksleuth.web.render import clock, render
from leaksleuth.web.session import COOKIE, COOKIE_MAX_AGE, session_value, signed_in, token_matches

STATIC = Path(__file__).parent / "static"
MAX_LOGIN_BODY = 4096
CHARTS = (("goroutines", "Goroutines"), ("heap_inuse", "Heap in use"), ("rss_bytes", "RSS"), ("num_gc", "GC cycles"))
FLAME_KINDS = ("heap", "allocs", "goroutine", "goroutineleak")  # stored as pprof protobuf: a flame graph each


class _SignIn(Exception):
    """A page was asked for without the token: the browser goes to the login page."""

    def __init__(self, path: str) -> None:
        self.path = path


def mount_pages(app: FastAPI, service: AlertService, live: LiveFleet | None) -> None:
    # long on purpose: the routes are closures over this service, store and fleet (no module globals), a few
    # lines each; split, every part would take the same three objects
    mount_events(app, service, live)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    store = service.store

    @app.exception_handler(_SignIn)
    async def sign_in(_request: Request, exc: _SignIn) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.path, safe='/')}", status_code=303)

    def page(request: Request) -> dict[str, Any]:
        """The token, or off to the login page; the context every page's header needs."""
        if not signed_in(request, service):
            raise _SignIn(request.url.path)
        by_cookie = bool(service.token) and "authorization" not in request.headers
        return {"signed_in_by_cookie": by_cookie}

    def api(request: Request) -> None:
        if not signed_in(request, service):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/", response_class=HTMLResponse)
    async def fleet(request: Request, q: str = "", sort: str = "severity") -> HTMLResponse:
        context = page(request)
        view = views.fleet_view(store, live, query=q[:200], sort=sort)
        return HTMLResponse(render("fleet.html", page="fleet", view=view, sorts=views.SORTS, **context))

    @app.get("/fleet/rows", response_class=HTMLResponse)
    async def fleet_rows(request: Request, q: str = "", sort: str = "severity") -> HTMLResponse:
        api(request)
        view = views.fleet_view(store, live, query=q[:200], sort=sort)
        return HTMLResponse(render("fleet_rows.html", view=view), headers={"Cache-Control": "no-store"})

    @app.get("/instance/{target_id}", response_class=HTMLResponse)
    async def instance(request: Request, target_id: int) -> HTMLResponse:
        context = page(request)
        view = views.instance_view(store, live, target_id)
        if view is None:
            raise HTTPException(404, f"no instance {target_id}")
        chart_json = Markup(script_json(view.chart))  # safe inside <script>: <, >, & and U+2028/9 escaped
        return HTMLResponse(
            render(
                "instance.html",
                page="instance",
                view=view,
                charts=CHARTS,
                chart_json=chart_json,
                flame_kinds=FLAME_KINDS,
                **context,
            )
        )

    @app.get("/instance/{target_id}/chart.json")
    async def chart(request: Request, target_id: int) -> JSONResponse:
        api(request)
        view = views.instance_view(store, live, target_id)
        if view is None:
            raise HTTPException(404, f"no instance {target_id}")
        return JSONResponse(view.chart, headers={"Cache-Control": "no-store"})

    @app.get("/instance/{target_id}/flame", response_class=HTMLResponse)
    async def flame(request: Request, target_id: int, snapshot: int, base: int | None = None) -> HTMLResponse:
        page(request)
        known = next((t for t in store.targets() if t.id == target_id), None)
        if known is None:
            raise HTTPException(404, f"no instance {target_id}")
        return HTMLResponse(await asyncio.to_thread(_flame_page, service, known.url, snapshot, base))

    @app.get("/snapshots/{snapshot_id}")
    async def download(request: Request, snapshot_id: int) -> Response:
        api(request)
        try:
            row, data = await asyncio.to_thread(store.snapshot, snapshot_id)
        except LeaksleuthError as exc:
            raise HTTPException(404, str(exc)) from None
        suffix = ".pb.gz" if data[:2] == b"\x1f\x8b" else ".pb" if row.format == "pprof" else ".txt"
        name = f"{_host(row.target)}-{row.kind}-{snapshot_id}{suffix}"
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private"},
        )

    @app.get("/captures", response_class=HTMLResponse)
    async def captures(request: Request) -> HTMLResponse:
        context = page(request)
        summaries = service.reports(limit=500)
        alerts = [s for s in summaries if s["source"] == "alert"]
        before_healing = [s for s in summaries if s["source"] == "heal-capture"]
        target_ids = {t.url: t.id for t in store.targets()}
        sections = [("Alert captures", alerts), ("Captures before a self-healing decision", before_healing)]
        actions = views.heal_actions(store)
        return HTMLResponse(
            render(
                "captures.html", page="captures", sections=sections, actions=actions, target_ids=target_ids, **context
            )
        )

    @app.get("/captures/{report_id}", response_class=HTMLResponse)
    async def capture(request: Request, report_id: int) -> HTMLResponse:
        from leaksleuth.report.html import render_report

        page(request)
        row = store.report(report_id)
        if row is None or row.source == "heal":  # a decision, not a capture: the table shows it whole
            raise HTTPException(404, f"no capture {report_id}")
        return HTMLResponse(render_report(row.document, title=f"capture #{report_id}: {row.target}"))

    mount_login(app, service)


def mount_login(app: FastAPI, service: AlertService) -> None:
    @app.get("/login", response_class=HTMLResponse)
    async def login_page(next: str = "/") -> HTMLResponse:
        return HTMLResponse(render("login.html", page="login", next=_local(next), error="", signed_in_by_cookie=False))

    @app.post("/login")
    async def login(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_LOGIN_BODY:
            raise HTTPException(413, "login form too large")
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        given = (form.get("token") or [""])[0].strip()
        target = _local((form.get("next") or ["/"])[0])
        if not service.token:
            return RedirectResponse(target, status_code=303)
        if not token_matches(service, given):
            page = render("login.html", page="login", next=target, error="Wrong token.", signed_in_by_cookie=False)
            return HTMLResponse(page, status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            session_value(service.token),
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.get("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response


def _local(path: str) -> str:
    """Where to go after signing in: a path on this server only (no ``//evil``, no scheme, no host)."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def _host(url: str) -> str:
    netloc = urlsplit(url).netloc or "target"
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in netloc)[:80]


def _flame_page(service: AlertService, url: str, snapshot_id: int, base_id: int | None) -> str:
    from leaksleuth.analysis.heap.flame import flame_graph
    from leaksleuth.formats import parse
    from leaksleuth.model.profile_ops import diff
    from leaksleuth.report.flame import render_html

    def profile(snapshot: int) -> tuple[Any, Any]:
        try:
            row, data = service.store.snapshot(snapshot)
        except LeaksleuthError as exc:
            raise HTTPException(404, str(exc)) from None
        if row.target != url:
            raise HTTPException(404, f"snapshot {snapshot} is not of {url}")
        parsed = parse(data)
        if parsed.profile is None:
            raise HTTPException(400, f"snapshot {snapshot} is a {row.format} {row.kind}, not a pprof profile")
        return row, parsed.profile

    row, current = profile(snapshot_id)
    title = f"{url} {row.kind} at {clock(row.taken_at)}"
    if base_id is not None:
        base_row, base = profile(base_id)
        if base_row.kind != row.kind:
            raise HTTPException(400, f"cannot diff a {row.kind} profile with a {base_row.kind} one")
        current = diff(current, base)
        title = f"{url} {row.kind}: {clock(row.taken_at)} − {clock(base_row.taken_at)}"
    return render_html(flame_graph(current), title=title)
