"""The audit log: every staff action, who did it, on which journey, why, and how it ended."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from db.models import AuditEntry

REASON_MAX = 500  # audit_entry.reason


class Staff(Protocol):
    """Who acted: a StaffMember row or the web's SignedInStaff."""

    @property
    def username(self) -> str: ...

    @property
    def role(self) -> str: ...


def record_audit(
    engine: Engine,
    staff: Staff,
    action: str,
    journey_id: str | None,
    reason: str = "",
    detail: Mapping[str, Any] | None = None,
    outcome: str = "",
) -> AuditEntry:
    """Appends one entry; ``detail`` is stored as JSON text (no secrets, ever)."""
    entry = AuditEntry(
        at=datetime.now(UTC),
        staff_username=staff.username,
        staff_role=str(staff.role),
        action=action,
        journey_id=journey_id,
        # A refused attempt is recorded too, whatever was typed: as much as the column holds.
        reason=reason.replace("\x00", "\ufffd")[:REASON_MAX],
        detail=json.dumps(dict(detail or {}), default=str, sort_keys=True),
        outcome=outcome,
    )
    with Session(engine) as session:
        session.add(entry)
        session.commit()
        session.refresh(entry)
        return entry


def audit_entries(engine: Engine, journey_id: str) -> list[AuditEntry]:
    """A journey's entries, oldest first."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(AuditEntry)
                .where(AuditEntry.journey_id == journey_id)
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            )
        )
