"""Who may read the dashboard: the serve token, as a bearer header (scripts) or a cookie set by the login page.

The cookie holds an HMAC of the token, not the token: a copy of the cookie (browser profile, proxy log) opens the
pages of this server but cannot be replayed as the bearer token of ``/alerts`` elsewhere. HttpOnly, SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from leaksleuth.app.capture import AlertService

COOKIE = "leaksleuth_session"
COOKIE_MAX_AGE = 7 * 24 * 3600


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"leaksleuth dashboard session", hashlib.sha256).hexdigest()


def signed_in(request: Request, service: AlertService) -> bool:
    """The bearer token, or the session cookie; everyone when the server runs without a token (--no-auth)."""
    if not service.token:
        return True
    header = request.headers.get("authorization")
    if header is not None:
        return service.authorized(header)
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and hmac.compare_digest(cookie.encode(), session_value(service.token).encode())


def token_matches(service: AlertService, given: str) -> bool:
    """The login form's token (constant-time)."""
    return bool(service.token) and hmac.compare_digest(given.encode(), (service.token or "").encode())
