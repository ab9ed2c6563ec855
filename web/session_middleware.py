"""Sessions kept on the server. The cookie holds only an opaque random id; what the session
holds (web/session.py's SessionKey) is a row of the application database (db/sessions.py),
so ending the row ends the session at once, wherever the cookie was copied to.

The idle window (GCKey's 20 minutes) and an absolute lifetime are enforced here, for every
kind of session. A session past either ends: its row is dropped and the browser gets a new id
holding only what may outlive it — an unfinished anonymous sign-up's journey (the next visit
in that browser resumes it, as GCKey does), the CSRF token of a page left open, and word that
a signed-in session timed out.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any

from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.models import WebSession
from db.sessions import end_session, load_session, save_session
from web.journeys import journey_id_of
from web.session import SessionKey, SessionState

COOKIE = "cers_session"
# seen_at is written at most this often on requests that change nothing: the idle window is
# counted in minutes, and a write per page view would cost more than it tells.
TOUCH_SECONDS = 30


def carried_over(data: dict[str, Any]) -> dict[str, Any]:
    """What a session that ended passes on to the browser's next one."""
    signed_in = SessionKey.AUTH in data or SessionKey.STAFF in data
    kept: dict[str, Any] = {}
    if SessionKey.CSRF in data:
        kept[SessionKey.CSRF] = data[SessionKey.CSRF]
    if signed_in:
        kept[SessionKey.TIMED_OUT] = True
    elif isinstance(data.get(SessionKey.JOURNEY), str):
        kept[SessionKey.JOURNEY] = data[SessionKey.JOURNEY]
        # What it knew of the journey, to be asked afresh, but still never to be replaced by
        # an older answer (a form of the old session pressed again: web/guards.py).
        view = data.get(SessionKey.VIEW)
        if isinstance(view, dict) and view.get("journey") == data[SessionKey.JOURNEY]:
            kept[SessionKey.VIEW] = {**view, "stale": True}
    return kept


def owner_columns(data: dict[str, Any]) -> tuple[str | None, int | None]:
    """The journey and the staff member a session belongs to, for ending them together."""
    workflow_id = data.get(SessionKey.AUTH) or data.get(SessionKey.JOURNEY)
    staff = data.get(SessionKey.STAFF)
    staff_id = staff.get("id") if isinstance(staff, dict) else None
    return (
        journey_id_of(workflow_id) if isinstance(workflow_id, str) else None,
        staff_id if isinstance(staff_id, int) else None,
    )


class ServerSessionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        engine: Engine,
        *,
        idle_minutes: float,
        max_hours: float,
        cookie_days: float,
        secure: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.engine = engine
        self.idle_seconds = idle_minutes * 60
        self.max_seconds = max_hours * 3600
        self.cookie_seconds = round(cookie_days * 86400)
        self.secure = secure
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static"):
            await self.app(scope, receive, send)
            return
        now = self.clock()
        sent_id = cookie_value(scope)
        row = await asyncio.to_thread(load_session, self.engine, sent_id) if sent_id else None
        session = SessionState()
        session_id: str | None = None
        created = seen = now
        if row is not None and sent_id is not None:
            data: dict[str, Any] = json.loads(row.data)
            created, seen = row.created_at.timestamp(), row.seen_at.timestamp()
            if now - seen > self.idle_seconds or now - created > self.max_seconds:
                await asyncio.to_thread(end_session, self.engine, sent_id)
                session.update(carried_over(data))
                session.renew()
                created = now
            else:
                session.update(data)
                session_id = sent_id
        before = json.dumps(session, sort_keys=True)
        scope["session"] = session

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await self._persist(session, session_id, before, created, seen, now)
                if cookie is None and sent_id is not None and not session:
                    cookie = self._cookie("", 0)  # its session ended: drop the dead id
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_session)

    async def _persist(
        self,
        session: SessionState,
        session_id: str | None,
        before: str,
        created: float,
        seen: float,
        now: float,
    ) -> str | None:
        """Saves what changed; the Set-Cookie header to send, if any."""
        if session.renewed or not session:
            if session_id is not None:
                await asyncio.to_thread(end_session, self.engine, session_id)
                session_id = None
            if not session:
                return None
        elif json.dumps(session, sort_keys=True) == before and now - seen < TOUCH_SECONDS:
            return None
        if session_id is None:
            session_id, created = secrets.token_urlsafe(32), now
        journey_id, staff_id = owner_columns(session)
        row = WebSession(
            id_hash="",
            data=json.dumps(session, sort_keys=True),
            journey_id=journey_id,
            staff_id=staff_id,
            created_at=datetime.fromtimestamp(created, UTC),
            seen_at=datetime.fromtimestamp(now, UTC),
        )
        await asyncio.to_thread(save_session, self.engine, session_id, row)
        return self._cookie(session_id, self.cookie_seconds)

    def _cookie(self, value: str, max_age: int) -> str:
        secure = "; Secure" if self.secure else ""
        return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


def cookie_value(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed Cookie header is no session, not an error
                return None
            if COOKIE in jar and jar[COOKIE].value:
                return jar[COOKIE].value
    return None
