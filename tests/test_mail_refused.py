"""An address the mail server refuses for good (an SMTP 5xx), with the real SMTP server: the
refusal is final, not retried forever, and the journey records it and sends no reminder to
the address. A 4xx is still retried."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.email import SmtpSender
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.journeys import (
    Journey,
    begin,
    create_account,
    new_address,
    new_username,
    sign_up,
    terminate_if_running,
)
from workflows.onboarding import OnboardingWorkflow
from workflows.types import MAIL_REFUSED, EmailKind

UNKNOWN_USER = "550 5.1.1 <{}>: Recipient address rejected: User unknown"


def message_to(address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "cers@example.ca", address, "Test"
    message.set_content("Test")
    return message


async def test_a_lasting_refusal_is_final_and_a_passing_one_is_retried(smtp: MailCatcher) -> None:
    sender = SmtpSender("127.0.0.1", smtp.port)
    unknown, rejected = new_address(), new_address()
    smtp.unknown.add(unknown)
    smtp.rejected.add(rejected)
    for address, answer in ((unknown, UNKNOWN_USER.format(unknown)), (rejected, "554 5.7.1")):
        with pytest.raises(ApplicationError) as refused:
            await sender.send(message_to(address))
        assert (refused.value.type, refused.value.non_retryable) == (MAIL_REFUSED, True)
        assert str(refused.value.details[0]).startswith(answer)
    smtp.refuse = True  # 451: the server may take it later
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as later:
            await sender.send(message_to(new_address()))
        assert later.value.code == 451
    finally:
        smtp.refuse = False


async def test_no_reminder_goes_to_a_refused_address(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """The reminder a day later would be refused again: it is not sent."""
    client = time_env.client
    refused = new_address()
    smtp.unknown.add(refused)
    async with new_worker(client, settings):
        workflow_id = await begin(client, settings)
        await sign_up(client, workflow_id, new_username())
        handle: Journey = client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)
        try:
            await create_account(handle, refused)

            async def recorded() -> bool:
                state = await handle.query(OnboardingWorkflow.journey)
                return state.mail_refused is not None

            await until(recorded, what="the refusal to be recorded")
            await time_env.sleep(timedelta(hours=settings.reminder_after_hours + 1))

            async def reminder_time_passed() -> bool:
                history = await handle.fetch_history()
                fired = EventType.EVENT_TYPE_TIMER_FIRED
                return any(e.event_type == fired for e in history.events)

            await until(reminder_time_passed, what="the reminder's timer to fire")
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.reminders_sent == 0
            assert state.mail_refused is not None
            assert state.mail_refused.kind is EmailKind.CONFIRMATION
            history = await handle.fetch_history()
            scheduled = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            assert [e.event_type for e in history.events].count(scheduled) == 1
        finally:
            await terminate_if_running(handle)
