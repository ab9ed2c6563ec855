"""What erasing a closed journey's personal information removes from the application
database, beside its data keys (db/datakeys.py): the GCKey (username, password hash, recovery
e-mail), its recovery answers and hints, reset codes, the Sign-In Partner link and any session.
Kept: the audit log (who erased, when, why: no personal information of the person) and the
archive's rows, whose histories nobody can read any more; but a run begun before data keys has
its payloads under the ring key (or plain, before encryption), which erasure cannot destroy,
so such archived runs are deleted instead (Temporal's copy of them stays readable to the ring
until retention drops it)."""

from __future__ import annotations

import json

from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from core.crypto import DATA_KEY
from db.models import (
    GCKey,
    JourneyArchive,
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


def under_its_data_key(history_json: str) -> bool:
    """Whether an archived run's input is sealed under its workflow's data key: a run begun
    with data keys. One begun before has its input under the ring key, or plain."""
    first = json.loads(history_json)["events"][0]
    started = first.get("workflowExecutionStartedEventAttributes", {})
    payloads = started.get("input", {}).get("payloads", [])
    return bool(payloads) and all(DATA_KEY in p.get("metadata", {}) for p in payloads)


def delete_personal_rows(engine: Engine, journey_id: str, workflow_id: str) -> int:
    """The journey's personal rows, and its archived runs that its erased data key does not
    make unreadable; how many such runs were deleted."""
    with Session(engine) as session:
        runs = session.exec(
            select(JourneyArchive).where(col(JourneyArchive.workflow_id) == workflow_id)
        )
        legacy = [run for run in runs if not under_its_data_key(run.history_json)]
        for run in legacy:
            session.delete(run)
        for table, column in (
            (RecoveryAnswerRow, RecoveryAnswerRow.journey_id),
            (GCKey, GCKey.journey_id),
            (ResetCode, ResetCode.journey_id),
            (PartnerIdentity, PartnerIdentity.journey_id),
            (WebSession, WebSession.journey_id),
        ):
            session.exec(delete(table).where(col(column) == journey_id))
        session.commit()
    return len(legacy)
