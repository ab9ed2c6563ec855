"""The timeline of a live journey on the real server: an e-mail held back by a mail server that
refuses it (its failed attempts, pending then final), and the reminder that follows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client

from audit.sources import JourneyHistory, read_journey
from audit.timeline import build_timeline
from db.engine import make_engine
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, reader, until
from tests.journeys import (
    begin,
    create_account,
    journey_handle,
    new_address,
    new_username,
    sign_up,
)

REFUSED = "(451, '4.3.0 Mail server temporarily unavailable')"  # as aiosmtplib says it


@asynccontextmanager
async def refusing(smtp: MailCatcher) -> AsyncIterator[None]:
    smtp.refuse = True
    try:
        yield
    finally:
        smtp.refuse = False


async def told(client: Client, settings: Settings, workflow_id: str) -> list[str]:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        keys = reader(client)
        journey: JourneyHistory = await read_journey(client, engine, workflow_id, keys)
    finally:
        engine.dispose()
    pending = journey.pending if journey.running else ()
    return [e.says.render(lambda m: m) for e in build_timeline(journey.latest.shown, pending)]


async def test_a_refused_e_mail_and_the_reminder_in_the_timeline(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    settings.reminder_after_hours = 1 / 3600  # a reminder one second after the link
    address = new_address()
    async with new_worker(client, settings):
        workflow_id = await begin(client, settings)
        await sign_up(client, workflow_id, new_username())
        handle = journey_handle(client, workflow_id)
        async with refusing(smtp):
            await create_account(handle, address)
            waiting = f"Confirmation e-mail to {address}, link 1, not sent yet: attempt "

            async def retrying() -> bool:
                lines = await told(client, settings, workflow_id)
                return any(line.startswith(waiting) and line.endswith(REFUSED) for line in lines)

            await until(retrying, what="the refused e-mail's second attempt")
        await smtp.wait_for(address, count=2)  # the confirmation, then the reminder

        async def both_sent() -> bool:
            lines = await told(client, settings, workflow_id)
            return any(line.startswith("Reminder e-mail sent") for line in lines)

        await until(both_sent, what="the reminder in history")
        lines = await told(client, settings, workflow_id)
    sent = next(line for line in lines if line.startswith("Confirmation e-mail sent"))
    assert sent.startswith(f"Confirmation e-mail sent to {address}, link 1. It took ")
    assert sent.endswith(f" attempts; the last failure was: {REFUSED}")
    assert f"Reminder e-mail sent to {address}, link 1." in lines
    assert "A waiting period ended." not in lines
    assert not any("not sent yet" in line for line in lines)
