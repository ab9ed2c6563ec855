"""Read-only lookups the web makes; every write goes through the workflow's activities."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.normalize import username_key
from db.engine import storable
from db.models import (
    GCKey,
    JourneyArchive,
    PartnerIdentity,
    RecoveryAnswerRow,
    ResetCode,
    UserAccount,
)


def issued_gckey(engine: Engine, username: str) -> GCKey | None:
    if not storable(username):
        return None
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


def archived_run(engine: Engine, workflow_id: str, run_id: str = "") -> JourneyArchive | None:
    """An archived run of a journey; without a run id, the one that closed last."""
    query = select(JourneyArchive).where(JourneyArchive.workflow_id == workflow_id)
    if run_id:
        query = query.where(JourneyArchive.run_id == run_id)
    with Session(engine) as session:
        return session.exec(query.order_by(col(JourneyArchive.closed_at).desc())).first()


def archived_runs(engine: Engine, workflow_id: str) -> list[JourneyArchive]:
    """Every archived run of a journey, oldest first."""
    query = select(JourneyArchive).where(JourneyArchive.workflow_id == workflow_id)
    with Session(engine) as session:
        return list(session.exec(query.order_by(col(JourneyArchive.closed_at))))


def archived_closed_between(
    engine: Engine, after: datetime | None = None, before: datetime | None = None
) -> list[JourneyArchive]:
    """Archived runs that closed in the window, oldest first."""
    query = select(JourneyArchive)
    if after is not None:
        query = query.where(col(JourneyArchive.closed_at) >= after)
    if before is not None:
        query = query.where(col(JourneyArchive.closed_at) < before)
    with Session(engine) as session:
        return list(session.exec(query.order_by(col(JourneyArchive.closed_at))))


# Support staff find a journey by what a person tells them; no such value is ever in Temporal.


def journeys_for_username(engine: Engine, username: str) -> list[str]:
    """The journey that reserved this GCKey username (case and accents as GCKey compares)."""
    if not storable(username):
        return []
    with Session(engine) as session:
        return list(
            session.exec(
                select(GCKey.journey_id).where(GCKey.username_key == username_key(username))
            )
        )


def journeys_for_email(engine: Engine, email: str) -> list[str]:
    """Journeys whose CERS account or GCKey recovery e-mail is this address, in any case."""
    address = email.strip().lower()
    if not storable(address):
        return []
    with Session(engine) as session:
        accounts = session.exec(
            select(UserAccount.journey_id).where(func.lower(UserAccount.email) == address)
        )
        gckeys = session.exec(
            select(GCKey.journey_id).where(func.lower(GCKey.recovery_email) == address)
        )
        return list(dict.fromkeys([*accounts, *gckeys]))


def journeys_for_urn(engine: Engine, urn: str) -> list[str]:
    digits = urn.replace(" ", "").replace("-", "")
    with Session(engine) as session:
        return list(session.exec(select(UserAccount.journey_id).where(UserAccount.urn == digits)))


def gckey_for(engine: Engine, journey_id: str) -> GCKey | None:
    with Session(engine) as session:
        return session.get(GCKey, journey_id)


def partner_journey(engine: Engine, issuer: str, subject: str) -> str | None:
    """The journey a Sign-In Partner's pairwise id opens, if it has been linked."""
    with Session(engine) as session:
        row = session.get(PartnerIdentity, (issuer, subject))
        return row.journey_id if row else None


def recovery_answers(engine: Engine, journey_id: str) -> list[RecoveryAnswerRow]:
    """A GCKey's recovery questions and answer hashes, in the order they were set."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(RecoveryAnswerRow)
                .where(RecoveryAnswerRow.journey_id == journey_id)
                .order_by(col(RecoveryAnswerRow.position))
            )
        )


def newest_reset_code(engine: Engine, journey_id: str) -> ResetCode | None:
    """The code most recently sent for a GCKey: the only one that still works."""
    with Session(engine) as session:
        return session.exec(
            select(ResetCode)
            .where(ResetCode.journey_id == journey_id)
            .order_by(col(ResetCode.sent_at).desc())
        ).first()
