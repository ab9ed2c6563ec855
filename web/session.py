"""The session: what it holds (SessionKey, the one list of its keys), GCKey's 20-minute idle
window, sign in and out, CSRF tokens.

Starlette's SessionMiddleware signs the cookie (itsdangerous), marks it HttpOnly and
SameSite=Lax.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send


class SessionKey(StrEnum):
    """Every key the session holds."""

    JOURNEY = "journey"  # the workflow id of the journey this browser is filling in
    AUTH = "auth"  # the workflow id of the signed-in GCKey (or Sign-In Partner) journey
    STAFF = "staff"  # a signed-in staff member: {"id", "role"} (web/staff)
    SEEN = "seen"  # the time of the last request, for the idle window
    CSRF = "csrf"  # the token every form posts back
    TIMED_OUT = "timed_out"  # the idle window ended the session: the next page says so
    LINK_SENT = "link_sent"  # the portal says a new confirmation link went out
    PARTNER_LANG = "partner_lang"  # the page language to come back to from the Sign-In Partner
    RESET = "reset"  # the workflow id of the Forgot your password? attempt
    RESET_JOURNEY = "reset_journey"  # the journey whose GCKey that attempt resets ("" unknown)
    RESET_ACCOUNT = "reset_account"  # the keyed hash its code e-mails are counted under


# An exporter's keys: a staff page refuses a session holding one (web/staff/access.py).
EXPORTER_KEYS = (SessionKey.AUTH, SessionKey.JOURNEY)


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
            idle = now - int(session.get(SessionKey.SEEN, 0)) > self.idle_seconds
            if idle and (SessionKey.AUTH in session or SessionKey.STAFF in session):
                for key in (*EXPORTER_KEYS, SessionKey.STAFF):
                    session.pop(key, None)
                session[SessionKey.TIMED_OUT] = True
            session[SessionKey.SEEN] = now
        await self.app(scope, receive, send)


def fresh_session(request: Request, held: dict[str, Any]) -> None:
    """A fresh session on every sign-in, so nothing from before carries over."""
    seen = request.session.get(SessionKey.SEEN, int(time.time()))
    request.session.clear()
    request.session.update(held)
    request.session[SessionKey.SEEN] = seen
    request.session[SessionKey.CSRF] = secrets.token_urlsafe(32)


def sign_in(request: Request, workflow_id: str) -> None:
    """A GCKey or Sign-In Partner sign-in: a fresh session naming the journey."""
    fresh_session(request, {SessionKey.AUTH: workflow_id, SessionKey.JOURNEY: workflow_id})


def sign_out(request: Request) -> None:
    request.session.clear()


def held(request: Request, key: SessionKey) -> str | None:
    """A string the session holds under ``key``, or None."""
    value = request.session.get(key)
    return value if isinstance(value, str) else None


def signed_in_journey(request: Request) -> str | None:
    return held(request, SessionKey.AUTH)


def csrf_token(request: Request) -> str:
    token = request.session.get(SessionKey.CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SessionKey.CSRF] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every form post carries the session's token; a missing or wrong one is refused."""
    if request.method != "POST":
        return
    sent = (await request.form()).get("csrf_token")
    token = request.session.get(SessionKey.CSRF)
    if not isinstance(sent, str) or not isinstance(token, str):
        raise HTTPException(403)
    if not hmac.compare_digest(sent, token):
        raise HTTPException(403)
