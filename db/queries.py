"""Read-only lookups the web makes; every write goes through the workflow's activities."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, select

from db.models import GCKey, UserAccount
from workflows.rules import username_key


def issued_gckey(engine: Engine, username: str) -> GCKey | None:
    with Session(engine) as session:
        return session.exec(
            select(GCKey).where(
                GCKey.username_key == username_key(username),
                GCKey.issued_at.is_not(None),  # type: ignore[union-attr]
            )
        ).first()


def account_for(engine: Engine, journey_id: str) -> UserAccount | None:
    with Session(engine) as session:
        return session.exec(select(UserAccount).where(UserAccount.journey_id == journey_id)).first()
