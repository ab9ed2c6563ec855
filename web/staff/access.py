"""Who may enter the staff area: staff sign-in, its own session, and the role dependencies.

The session's ``staff`` key holds only the staff member's id; every request reads the row
again, so a disabled account or a changed role counts at once. Signing in as staff clears
whatever an exporter had in the cookie, and an exporter's sign-in clears the staff key
(web/session.py starts a fresh session). An exporter's session never reaches a staff page.

Sign-in is rate limited per address and per account, and an account locks after repeated
failures (web/limits.py: in the rate-limit store, so every web process sees the lock). A
locked account reads and costs the same as an unknown username or a wrong password: the same
argon2id check runs and the same page comes back. Every sign-in, failure and lock is written
to the audit log; an unknown username as "(unknown)" and a keyed hash, never what was typed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response

from core.hashing import HASHER, verify_secret
from core.normalize import normalize_username
from db.audit import record_audit
from db.models import StaffMember
from db.staff import StaffRole, staff_member, staff_member_named
from web.deps import DbEngine, Lang, RateLimits
from web.guards import GoTo, goto
from web.pages import render
from web.session import EXPORTER_KEYS, SessionKey, check_csrf, fresh_session, sign_out
from workflows import rules

router = APIRouter(prefix="/{lang}/staff", dependencies=[Depends(check_csrf)])
# Verifying against this when the username is unknown makes both failures cost the same.
_DUMMY_HASH = HASHER.hash("not-the-password-of-any-staff-member")
SIGN_IN_FAILED = rules.N_("The username or password you entered is incorrect.")


@dataclass(frozen=True)
class SignedInStaff:
    """The staff member behind this request, as the database has them now."""

    id: int
    username: str
    display_name: str
    role: StaffRole


class StaffForbidden(Exception):
    """Signed in, but not as staff allowed here: the staff area's 403 page."""


class RoleCheck:
    """A dependency admitting the staff whose role is in ``roles``; the roles are kept on it
    so tests can find, for every staff route, who may reach it."""

    def __init__(self, *roles: StaffRole) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, request: Request, engine: DbEngine) -> SignedInStaff:
        session = request.session
        held = session.get(SessionKey.STAFF)
        if any(key in session for key in EXPORTER_KEYS):
            raise StaffForbidden
        if not isinstance(held, dict) or not isinstance(held.get("id"), int):
            raise GoTo("staff_sign_in")
        row = await asyncio.to_thread(staff_member, engine, held["id"])
        if row is None or row.disabled_at is not None or row.id is None:
            session.pop(SessionKey.STAFF, None)
            raise GoTo("staff_sign_in")
        staff = SignedInStaff(row.id, row.username, row.display_name, StaffRole(row.role))
        request.state.staff = staff  # for the header, on the 403 page too
        if staff.role not in self.roles:
            raise StaffForbidden
        return staff


AnyStaff = Annotated[SignedInStaff, Depends(RoleCheck(StaffRole.SUPPORT, StaffRole.AUDITOR))]
SupportStaff = Annotated[SignedInStaff, Depends(RoleCheck(StaffRole.SUPPORT))]


def staff_username(typed: str) -> str:
    """The username as the lookup reads it."""
    return normalize_username(typed.strip())


def checked_staff_account(
    engine: Engine, username: str, password: str
) -> tuple[StaffMember | None, bool]:
    """The staff account named (None if unknown), and whether these credentials open it
    (never a disabled one). An unknown or disabled username costs the same argon2id check as
    a wrong password."""
    member = staff_member_named(engine, staff_username(username))
    usable = member is not None and member.disabled_at is None
    hashed = member.password_hash if member is not None and usable else _DUMMY_HASH
    return member, verify_secret(hashed, password) and usable


@dataclass(frozen=True)
class UnknownStaff:
    """Who tried, in the audit log, when the username names no staff account."""

    username: str = "(unknown)"
    role: str = ""


def audit_sign_in(
    engine: Engine, member: StaffMember | None, attempt: str, outcome: str, locked_now: bool
) -> None:
    """``attempt`` is a keyed hash of the username typed, so an auditor can tell repeated
    attempts on one name apart from a spray over many without the log holding the name."""
    who = member or UnknownStaff()
    detail = {"attempt": attempt[:16]}
    record_audit(engine, who, "staff_sign_in", None, detail=detail, outcome=outcome)
    if locked_now:
        record_audit(engine, who, "staff_locked", None, detail=detail, outcome="locked")


def sign_in_staff(request: Request, member: StaffMember) -> None:
    """A fresh session: nothing an exporter (or anyone) had in this cookie carries over."""
    fresh_session(request, {SessionKey.STAFF: {"id": member.id, "role": member.role}})


class StaffSignInForm(BaseModel):
    username: str = ""
    password: str = ""


@router.get("/sign-in", name="staff_sign_in")
async def sign_in_page(request: Request, lang: Lang) -> Response:
    timed_out = bool(request.session.pop(SessionKey.TIMED_OUT, False))
    return render(
        request, "staff/sign_in.html", lang=lang, username="", errors={}, timed_out=timed_out
    )


@router.post("/sign-in")
async def sign_in_submit(
    request: Request,
    lang: Lang,
    engine: DbEngine,
    limiter: RateLimits,
    form: Annotated[StaffSignInForm, Form()],
) -> Response:
    account = limiter.account(staff_username(form.username))
    await limiter.hit(limiter.staff_sign_in, request, account)
    lockout = limiter.staff_lockout
    locked = await lockout.locked(account)
    member, opened = await asyncio.to_thread(
        checked_staff_account, engine, form.username, form.password
    )
    if member is not None and opened and not locked:
        await lockout.succeeded(account)
        await asyncio.to_thread(audit_sign_in, engine, member, account, "signed_in", False)
        sign_in_staff(request, member)
        return goto(request, lang, "staff_journeys")
    locked_now = await lockout.failed(account)
    disabled = member is not None and member.disabled_at is not None
    outcome = "refused_locked" if locked else "refused_disabled" if disabled else "failed"
    await asyncio.to_thread(audit_sign_in, engine, member, account, outcome, locked_now)
    return render(
        request,
        "staff/sign_in.html",
        lang=lang,
        status_code=400,
        username=form.username,
        errors={"sign_in": [SIGN_IN_FAILED]},
        timed_out=False,
    )


@router.post("/sign-out", name="staff_sign_out")
async def sign_out_submit(request: Request, lang: Lang, staff: AnyStaff) -> Response:
    sign_out(request)
    return goto(request, lang, "staff_signed_out")


@router.get("/signed-out", name="staff_signed_out")
async def signed_out(request: Request, lang: Lang) -> Response:
    return render(request, "staff/signed_out.html", lang=lang)
