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
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.engine import UNREACHABLE
from db.models import WebSession
from db.sessions import SessionReader, StoredSession, end_session, read_session, save_session
from web.journeys import journey_id_of
from web.session import SessionKey, SessionState

log = logging.getLogger("cers.web")

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
        inline_reader: SessionReader | None,
        idle_minutes: float,
        max_hours: float,
        cookie_days: float,
        secure: bool,
        unreachable: ASGIApp,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        # The "something went wrong, nothing is lost" page, for when the database holding the
        # sessions does not answer: this runs outside the app's own exception handlers.
        self.unreachable = unreachable
        self.engine = engine
        self.idle_seconds = idle_minutes * 60
        self.max_seconds = max_hours * 3600
        self.cookie_seconds = round(cookie_days * 86400)
        self.secure = secure
        self.clock = clock
        # SQLite answers a primary-key read from its WAL in tens of microseconds, less than a
        # hop to a worker thread and back costs: create_app gives it a reader to call inline.
        # A database across the network gets the thread.
        self.inline_reader = inline_reader

    async def _read(self, session_id: str) -> StoredSession | None:
        if self.inline_reader is not None:
            return self.inline_reader(session_id)
        return await asyncio.to_thread(read_session, self.engine, session_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static"):
            await self.app(scope, receive, send)
            return
        now = self.clock()
        sent_id = cookie_value(scope)
        try:
            row = await self._read(sent_id) if sent_id else None
        except UNREACHABLE as err:
            await self._unreachable(scope, receive, send, err)
            return
        session = SessionState()
        session_id: str | None = None
        created = seen = now
        before = "{}"  # what the session was, as it is stored, to tell whether it changed
        if row is not None and sent_id is not None:
            data: dict[str, Any] = json.loads(row.data)
            created, seen = row.created_at.timestamp(), row.seen_at.timestamp()
            if now - seen > self.idle_seconds or now - created > self.max_seconds:
                await asyncio.to_thread(end_session, self.engine, sent_id)
                session.update(carried_over(data))
                session.renew()
                created = now
                before = json.dumps(session, sort_keys=True)
            else:
                session.update(data)
                session_id = sent_id
                before = row.data  # written as json.dumps(..., sort_keys=True) writes it
        scope["session"] = session

        replaced = False

        async def send_with_session(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the page's own response, swapped for the "try again" page
            if message["type"] == "http.response.start":
                try:
                    cookie = await self._persist(session, session_id, before, created, seen, now)
                except UNREACHABLE as err:
                    # What the step did stands (Temporal has it); what this session learnt of
                    # it is not kept, so the person is asked to press again, which is safe.
                    replaced = True
                    await self._unreachable(scope, receive, send, err)
                    return
                if cookie is None and sent_id is not None and not session:
                    cookie = self._cookie("", 0)  # its session ended: drop the dead id
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_session)

    async def _unreachable(
        self, scope: Scope, receive: Receive, send: Send, err: Exception
    ) -> None:
        log.warning("the session database did not answer: %s", type(err).__name__)
        scope["session"] = SessionState()
        await self.unreachable(scope, receive, send)

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
    """The session id the browser sent, read as browsers write cookies (Starlette's parser,
    a tenth of SimpleCookie's cost, and never an error on a malformed header)."""
    for name, value in scope["headers"]:
        if name == b"cookie":
            sent = cookie_parser(value.decode("latin-1")).get(COOKIE)
            if sent:
                return sent
    return None
