"""The session: what it holds (SessionKey, the one list of its keys), sign in and out, CSRF
tokens. web/session_middleware.py keeps it on the server, with GCKey's 20-minute idle window
and an absolute lifetime.
"""

from __future__ import annotations

import hmac
import secrets
from enum import StrEnum
from typing import Any

from fastapi import HTTPException, Request


class SessionKey(StrEnum):
    """Every key the session holds."""

    JOURNEY = "journey"  # the workflow id of the journey this browser is filling in
    AUTH = "auth"  # the workflow id of the signed-in GCKey (or Sign-In Partner) journey
    STAFF = "staff"  # a signed-in staff member: {"id", "role"} (web/staff)
    CSRF = "csrf"  # the token every form posts back
    TIMED_OUT = "timed_out"  # the idle window ended the session: the next page says so
    LINK_SENT = "link_sent"  # the portal says a new confirmation link went out
    PARTNER_LANG = "partner_lang"  # the page language to come back to from the Sign-In Partner
    RESET = "reset"  # the workflow id of the Forgot your password? attempt
    RESET_JOURNEY = "reset_journey"  # the journey whose GCKey that attempt resets ("" unknown)
    RESET_ACCOUNT = "reset_account"  # the keyed hash its code e-mails are counted under
    # {"journey", "at"}: this session finished Sign Up step 5 and may press Continue, once
    ISSUED = "issued"
    # What this session knows of its journey's JourneyView, so a page needs no query:
    # {"journey", the view's fields, "stale"} (web/guards.py)
    VIEW = "view"
    # {"list", "pages"}: the staff list's page addresses seen lately, for its Previous link
    STAFF_PAGES = "staff_pages"


# An exporter's keys: a staff page refuses a session holding one (web/staff/access.py).
EXPORTER_KEYS = (SessionKey.AUTH, SessionKey.JOURNEY)


class SessionState(dict[str, Any]):
    """A request's session (``request.session``); web/session_middleware.py keeps it on the
    server. ``renew`` asks for a new id, the old one ending, as every sign-in does."""

    renewed = False

    def renew(self) -> None:
        self.renewed = True


def fresh_session(request: Request, held: dict[str, Any]) -> None:
    """A fresh session on every sign-in, so nothing from before carries over."""
    session = request.session
    session.clear()
    session.update(held)
    session[SessionKey.CSRF] = secrets.token_urlsafe(32)
    if isinstance(session, SessionState):
        session.renew()


def sign_in(request: Request, workflow_id: str) -> None:
    """A GCKey or Sign-In Partner sign-in: a fresh session naming the journey (and keeping
    what the old one knew of that journey, if it was the same)."""
    held: dict[str, Any] = {SessionKey.AUTH: workflow_id, SessionKey.JOURNEY: workflow_id}
    view = request.session.get(SessionKey.VIEW)
    if isinstance(view, dict) and view.get("journey") == workflow_id:
        held[SessionKey.VIEW] = view
    fresh_session(request, held)


def sign_out(request: Request) -> None:
    """Ends the session at once: its row goes, and the browser's id opens nothing."""
    fresh_session(request, {})


def held(request: Request, key: SessionKey) -> str | None:
    """A string the session holds under ``key``, or None."""
    value = request.session.get(key)
    return value if isinstance(value, str) else None


def signed_in_journey(request: Request) -> str | None:
    return held(request, SessionKey.AUTH)


CSRF_FIELD = "csrf_token"  # the hidden field of every form (web/pages.py hidden_field)


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
    sent = (await request.form()).get(CSRF_FIELD)
    token = request.session.get(SessionKey.CSRF)
    if not isinstance(sent, str) or not isinstance(token, str):
        raise HTTPException(403)
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    if not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), token.encode()):
        raise HTTPException(403)
