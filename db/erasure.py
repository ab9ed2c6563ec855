"""What erasing a closed journey's personal information removes from the application
database, beside its data keys (db/datakeys.py): the GCKey (username, password hash, recovery
e-mail), its recovery answers and hints, reset codes, the Sign-In Partner link and any session.
Kept: the audit log (who erased, when, why: no personal information of the person) and the
archive's rows, whose histories nobody can read any more."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from db.models import (
    GCKey,
    PartnerIdentity,
    RecoveryAnswerRow,
    ResetCode,
    UserAccount,
    WebSession,
)


def holds_account(engine: Engine, journey_id: str) -> bool:
    """The person has a CERS user account (its URN) from this journey: it is still theirs."""
    with Session(engine) as session:
        found = session.exec(
            select(UserAccount.id).where(col(UserAccount.journey_id) == journey_id)
        ).first()
    return found is not None


def delete_personal_rows(engine: Engine, journey_id: str) -> None:
    with Session(engine) as session:
        for table, column in (
            (RecoveryAnswerRow, RecoveryAnswerRow.journey_id),
            (GCKey, GCKey.journey_id),
            (ResetCode, ResetCode.journey_id),
            (PartnerIdentity, PartnerIdentity.journey_id),
            (WebSession, WebSession.journey_id),
        ):
            session.exec(delete(table).where(col(column) == journey_id))
        session.commit()
