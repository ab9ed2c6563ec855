"""Form ids: pressing a button again is safe. Every form that changes a journey carries a
fresh id (a hidden field); its Temporal update is sent under an id made from it, so a second
press of the same form (an answer lost to a timeout, a double click, the Back button) gets
Temporal's answer to the first one instead of a second update, and lands where the first led.
The first step also takes the journey's workflow id from it: a repeated Sign Up joins the
journey the first press started (update-with-start, USE_EXISTING).

An id is only good in the session it was rendered for: it is signed with that session's CSRF
token (a server-side secret of the session) and the form's purpose. Copied into another
session it is no id at all (that press is a fresh update, as before form ids), so a captured
id cannot lead another browser into this browser's journey. Missing or forged, likewise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from web.journeys import workflow_id_for
from web.session import SessionKey

FIELD = "form_id"
_MAX = 100  # an id is 22 + 1 + 22 characters; anything longer is not one


def _mac(key: str, purpose: str, nonce: str) -> str:
    # hmac.digest: the one-shot form, OpenSSL's own, with no HMAC object built per call.
    digest = hmac.digest(key.encode(), f"{purpose}\n{nonce}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def new_form_id(key: str, purpose: str) -> str:
    """A fresh id for one rendered form; ``key`` is the session's CSRF token."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_mac(key, purpose, nonce)}"


@dataclass(frozen=True)
class SentForm:
    """The form id a POST carried, once checked against this session: ``nonce`` is None
    when it carried none that this session rendered for this purpose."""

    purpose: str
    nonce: str | None
    key: str = ""

    @property
    def update_id(self) -> str | None:
        """The Temporal update id this press is sent under (None: a fresh one)."""
        return f"{self.purpose}-{self.nonce}" if self.nonce else None

    def workflow_id(self) -> str | None:
        """The journey a first step starts: the same for every press of this form, and
        unknowable without the session's key, so nobody else can aim at it beforehand."""
        if self.nonce is None:
            return None
        seed = hmac.new(self.key.encode(), f"journey\n{self.nonce}".encode(), hashlib.sha256)
        return workflow_id_for(str(uuid.UUID(bytes=seed.digest()[:16], version=4)))


def read_form_id(key: object, purpose: str, sent: object) -> SentForm:
    if not isinstance(key, str) or not isinstance(sent, str) or len(sent) > _MAX:
        return SentForm(purpose, None)
    nonce, _, mac = sent.partition(".")
    try:
        good = hmac.compare_digest(mac.encode(), _mac(key, purpose, nonce).encode())
    except UnicodeEncodeError:  # a lone surrogate is no id
        good = False
    return SentForm(purpose, nonce, key) if good and nonce else SentForm(purpose, None)


def sent_form(purpose: str) -> Callable[[Request], Awaitable[SentForm]]:
    """A dependency: the checked form id of a POST whose form was rendered for ``purpose``."""

    async def dependency(request: Request) -> SentForm:
        sent = (await request.form()).get(FIELD)
        return read_form_id(request.session.get(SessionKey.CSRF), purpose, sent)

    return dependency
