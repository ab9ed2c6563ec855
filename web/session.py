"""The signed cookie session: GCKey's 20-minute idle window, sign in and out, CSRF tokens.

Starlette's SessionMiddleware signs the cookie (itsdangerous), marks it HttpOnly and
SameSite=Lax. What the session holds: ``journey`` (the workflow id being filled in),
``auth`` (the workflow id of the signed-in GCKey), ``staff`` (a signed-in staff member, see
web/staff), ``seen`` and ``csrf``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send


class IdleSessionMiddleware:
    """Signs the user out after ``idle_minutes`` without a request."""

    def __init__(
        self, app: ASGIApp, idle_minutes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.app = app
        self.idle_seconds = idle_minutes * 60
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/static"):
            session: dict[str, Any] = scope["session"]
            now = int(self.clock())
            idle = now - int(session.get("seen", 0)) > self.idle_seconds
            if idle and ("auth" in session or "staff" in session):
                session.pop("auth", None)
                session.pop("journey", None)
                session.pop("staff", None)  # a staff member's session (web/staff) alike
                session["timed_out"] = True
            session["seen"] = now
        await self.app(scope, receive, send)


def sign_in(request: Request, journey_id: str) -> None:
    """A fresh session on every sign-in, so nothing from before carries over."""
    seen = request.session.get("seen", int(time.time()))
    request.session.clear()
    request.session.update(
        auth=journey_id, journey=journey_id, seen=seen, csrf=secrets.token_urlsafe(32)
    )


def sign_out(request: Request) -> None:
    request.session.clear()


def signed_in_journey(request: Request) -> str | None:
    auth = request.session.get("auth")
    return auth if isinstance(auth, str) else None


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every form post carries the session's token; a missing or wrong one is refused."""
    if request.method != "POST":
        return
    sent = (await request.form()).get("csrf_token")
    token = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(token, str):
        raise HTTPException(403)
    if not hmac.compare_digest(sent, token):
        raise HTTPException(403)
