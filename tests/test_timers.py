"""Reminder and expiry of the confirmation link, on Temporal's time-skipping test server.

The journey starts with the real defaults (a reminder after 24 hours, expiry after 72), and
the test server skips the days in milliseconds. Dates in the e-mails come from the server's
virtual clock, so the tests check that an expiry is written, not which date it names.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.journeys import (
    Journey,
    at_portal,
    begin,
    create_account,
    journey_handle,
    link_number_in,
    new_address,
    new_username,
    sign_up,
    terminate_if_running,
)
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    LINK_EXPIRED,
    LINK_REPLACED,
    ConfirmationStatus,
    ConfirmEmailInput,
    RequestNewLinkInput,
    Step,
)


@dataclass
class Waiting:
    """A journey at CONFIRM_EMAIL whose first confirmation e-mail has arrived."""

    handle: Journey
    address: str
    urn: str
    first: EmailMessage


@asynccontextmanager
async def waiting_for_confirmation(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> AsyncIterator[Waiting]:
    client = time_env.client
    async with new_worker(client, settings):
        wf_id = await begin(client, settings)
        await sign_up(client, wf_id, new_username())
        handle = journey_handle(client, wf_id)
        address = new_address()
        created = await create_account(handle, address)
        (first,) = await smtp.wait_for(address)
        try:
            yield Waiting(handle, address, created.urn, first)
        finally:
            # The server's clock is shared by every test: a journey left waiting would keep
            # timers firing into the next test's skipped days.
            await terminate_if_running(handle)


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def expiry_text(message: EmailMessage) -> str:
    match = re.search(r"expires on (.+)\.\r?$", plain_text(message), re.MULTILINE)
    assert match, "the e-mail does not say when its link expires"
    return match.group(1)


async def expire(time_env: WorkflowEnvironment, waiting: Waiting) -> None:
    await time_env.sleep(timedelta(hours=73))

    async def expired() -> bool:
        state = await waiting.handle.query(OnboardingWorkflow.journey)
        return state.confirmation is ConfirmationStatus.EXPIRED

    await until(expired, what="the confirmation link to expire")


async def test_reminder_arrives_after_a_day(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    async with waiting_for_confirmation(time_env, settings, new_worker, smtp) as waiting:
        assert waiting.first["Subject"] == "Confirm your e-mail address for CERS"

        await time_env.sleep(timedelta(hours=25))

        first, reminder = await smtp.wait_for(waiting.address, 2)
        assert reminder["Subject"].startswith("Reminder")
        assert "We have not yet received the confirmation" in plain_text(reminder)
        # The reminder carries the same, still valid link and says when it expires.
        secret = settings.secret_key.get_secret_value()
        assert link_number_in(reminder, secret) == link_number_in(first, secret) == 1
        assert expiry_text(reminder) and "%(" not in expiry_text(reminder)
        state = await waiting.handle.query(OnboardingWorkflow.journey)
        assert state.reminders_sent == 1
        assert state.confirmation is ConfirmationStatus.PENDING


async def test_link_expires_after_three_days(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    async with waiting_for_confirmation(time_env, settings, new_worker, smtp) as waiting:
        assert expiry_text(waiting.first) and "%(" not in expiry_text(waiting.first)

        await expire(time_env, waiting)

        # One reminder, then silence: an expired link sends nothing more on its own.
        assert [m["Subject"][:8] for m in smtp.to(waiting.address)] == ["Confirm ", "Reminder"]
        link = link_number_in(waiting.first, settings.secret_key.get_secret_value())
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await waiting.handle.execute_update(
                OnboardingWorkflow.confirm_email, ConfirmEmailInput(link)
            )
        assert isinstance(raised.value.cause, ApplicationError)
        assert raised.value.cause.type == LINK_EXPIRED
        state = await waiting.handle.query(OnboardingWorkflow.journey)
        assert state.step is Step.CONFIRM_EMAIL and state.confirmed_at is None


async def test_new_link_after_expiry_confirms(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    secret = settings.secret_key.get_secret_value()
    async with waiting_for_confirmation(time_env, settings, new_worker, smtp) as waiting:
        await expire(time_env, waiting)
        old_link = link_number_in(waiting.first, secret)

        asked = await waiting.handle.execute_update(
            OnboardingWorkflow.request_new_link, RequestNewLinkInput()
        )

        *_, fresh = await smtp.wait_for(waiting.address, 3)
        assert fresh["Subject"] == "Confirm your e-mail address for CERS"
        new_link = link_number_in(fresh, secret)
        assert new_link == asked.link_number != old_link
        assert re.findall(r"\S+/confirm/\S+", plain_text(fresh)) != re.findall(
            r"\S+/confirm/\S+", plain_text(waiting.first)
        )
        assert expiry_text(fresh) and "%(" not in expiry_text(fresh)

        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await waiting.handle.execute_update(
                OnboardingWorkflow.confirm_email, ConfirmEmailInput(old_link)
            )
        assert isinstance(raised.value.cause, ApplicationError)
        assert raised.value.cause.type == LINK_REPLACED

        await waiting.handle.execute_update(
            OnboardingWorkflow.confirm_email, ConfirmEmailInput(new_link)
        )
        state = await at_portal(waiting.handle)
        assert state.urn == waiting.urn
