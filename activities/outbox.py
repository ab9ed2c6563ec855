"""The outbox: which messages the mail server has already accepted, so that an e-mail activity
retried after an accepted send (its completion lost with a worker or a Temporal server that
died) does not send the same message again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from db.models import MailOutbox

# A database that blinks right after the mail server answered: the row is tried again for a
# few seconds before the attempt gives up (and its retry would send the message again).
RECORD_RETRY_DELAYS = (0.5, 1.0, 2.0)


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def accepted(self, message_id: str) -> bool:
        return await asyncio.to_thread(self._accepted, message_id)

    def _accepted(self, message_id: str) -> bool:
        with Session(self._engine) as session:
            return session.get(MailOutbox, message_id) is not None

    async def record(self, message_id: str, journey_id: str) -> None:
        """Keeps the mail server's acceptance of ``message_id``; kept already is as good."""
        for delay in (*RECORD_RETRY_DELAYS, None):
            try:
                await asyncio.to_thread(self._record, message_id, journey_id)
                return
            except OperationalError:
                if delay is None:
                    raise
                await asyncio.sleep(delay)

    def _record(self, message_id: str, journey_id: str) -> None:
        with Session(self._engine) as session:
            session.add(
                MailOutbox(
                    message_id=message_id, journey_id=journey_id, accepted_at=datetime.now(UTC)
                )
            )
            try:
                session.commit()
            except IntegrityError:  # an earlier attempt got there (it overran its timeout)
                session.rollback()
