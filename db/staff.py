"""Staff accounts: support staff act on journeys, auditors read them. Made from the command line
(``python -m staff``), never from the site."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.normalize import username_key
from db.engine import storable
from db.models import StaffMember
from db.sessions import end_staff_sessions


class StaffRole(StrEnum):
    SUPPORT = "support"  # may act on journeys
    AUDITOR = "auditor"  # may read everything, may change nothing


class StaffExists(Exception):
    """A staff account with this username (in any case) already exists."""


def create_staff_member(
    engine: Engine, username: str, role: StaffRole, password_hash: str, display_name: str = ""
) -> StaffMember:
    member = StaffMember(
        username=username,
        username_key=username_key(username),
        display_name=display_name or username,
        role=role.value,
        password_hash=password_hash,
        created_at=datetime.now(UTC),
    )
    with Session(engine) as session:
        session.add(member)
        try:
            session.commit()
        except IntegrityError as err:
            raise StaffExists(username) from err
        session.refresh(member)
        return member


def disable_staff_member(engine: Engine, username: str) -> StaffMember | None:
    """Disables the account from now on; None if there is no such account. Kept, not deleted:
    the audit log names it."""
    with Session(engine) as session:
        member = session.exec(
            select(StaffMember).where(StaffMember.username_key == username_key(username))
        ).first()
        if member is None:
            return None
        if member.disabled_at is None:
            member.disabled_at = datetime.now(UTC)
            session.add(member)
            session.commit()
            session.refresh(member)
    if member.id is not None:
        end_staff_sessions(engine, member.id)  # signed out everywhere, at once
    return member


def staff_members(engine: Engine) -> list[StaffMember]:
    with Session(engine) as session:
        return list(session.exec(select(StaffMember).order_by(col(StaffMember.username_key))))


def staff_member_named(engine: Engine, username: str) -> StaffMember | None:
    if not storable(username):
        return None
    with Session(engine) as session:
        return session.exec(
            select(StaffMember).where(StaffMember.username_key == username_key(username))
        ).first()


def staff_member(engine: Engine, staff_id: int) -> StaffMember | None:
    with Session(engine) as session:
        return session.get(StaffMember, staff_id)
