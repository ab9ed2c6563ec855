"""The journey on the real Temporal dev server, driven through the client as the web does."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from settings import Settings
from tests.conftest import MailCatcher, NewWorker, decoded_bytes, history_bytes, until
from tests.journeys import ANSWERS, PASSWORD, at_portal, begin, journey_handle, sign_up
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    AnswerTermsInput,
    ChooseUsernameInput,
    ConfirmationStatus,
    ConfirmEmailInput,
    CreateAccountInput,
    Profile,
    RequestNewLinkInput,
)


async def test_whole_journey_keeps_no_secret_in_history(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    async with new_worker(client, settings):
        wf_id = await begin(client, settings)
        await sign_up(client, wf_id, f"exporter{uuid.uuid4().hex[:6]}")
        handle = journey_handle(client, wf_id)
        address = f"{uuid.uuid4().hex[:8]}@example.ca"
        created = await handle.execute_update(
            OnboardingWorkflow.create_account,
            CreateAccountInput(Profile("Marie", "Tremblay", address, "", "America/Toronto", "fr")),
        )
        assert len(created.urn) == 10
        (message,) = await smtp.wait_for(address)
        assert message["Subject"] == "Confirmez votre adresse courriel pour le SCDE"
        await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(1))
        state = await at_portal(handle)
        assert state.urn == created.urn
        assert state.confirmation is ConfirmationStatus.CONFIRMED

        raw = await handle.fetch_history()
        assert b"Tremblay" not in history_bytes(raw)  # Temporal holds it encrypted
        history = await decoded_bytes(raw, client)
        assert b"Tremblay" in history  # payloads are searchable once decoded
        assert history.count(b"$argon2id$") == 1 + len(ANSWERS)  # the hashes did arrive
        for secret in [PASSWORD, *ANSWERS, *(a.casefold() for a in ANSWERS)]:
            assert secret.encode() not in history


async def test_a_mail_server_down_delays_the_email_not_the_expiry(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    async with new_worker(client, settings):
        wf_id = await begin(client, settings, expire_after_seconds=2)
        await sign_up(client, wf_id, f"exporter{uuid.uuid4().hex[:6]}")
        handle = journey_handle(client, wf_id)
        smtp.refuse = True
        try:
            await handle.execute_update(
                OnboardingWorkflow.create_account,
                CreateAccountInput(Profile("Ana", "Lemay", address, "", "America/Toronto", "en")),
            )

            async def expired() -> bool:
                state = await handle.query(OnboardingWorkflow.journey)
                return state.confirmation is ConfirmationStatus.EXPIRED

            await until(expired, what="the link to expire while the e-mail cannot go out")
            assert smtp.to(address) == []
            new = await handle.execute_update(
                OnboardingWorkflow.request_new_link, RequestNewLinkInput()
            )
            assert new.link_number == 2
        finally:
            smtp.refuse = False
        # The mail server is back: the retried e-mails go out on their own.
        messages = await smtp.wait_for(address, count=2)
        assert {m["Message-ID"].split(".")[1] for m in messages} == {"1", "2"}


async def test_two_journeys_race_for_one_username(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings):
        a, b = await asyncio.gather(begin(client, settings), begin(client, settings))
        for wf_id in (a, b):
            await journey_handle(client, wf_id).execute_update(
                OnboardingWorkflow.answer_terms,
                AnswerTermsInput(accepted=True, terms_version="2024-07"),
            )
        username = f"Racer{uuid.uuid4().hex[:6]}"
        outcomes = await asyncio.gather(
            *(
                journey_handle(client, wf_id).execute_update(
                    OnboardingWorkflow.choose_username,
                    ChooseUsernameInput(username if wf_id == a else username.upper()),
                )
                for wf_id in (a, b)
            ),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failures) == 1
        failure = failures[0]
        assert isinstance(failure, WorkflowUpdateFailedError)
        assert isinstance(failure.cause, ApplicationError)
        assert failure.cause.type == "InvalidInput"
        assert failure.cause.details[0] == {
            "username": ["This username has already been used. Choose another one."]
        }


async def test_invalid_username_is_rejected_before_history(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings):
        wf_id = await begin(client, settings)
        handle = journey_handle(client, wf_id)
        await handle.execute_update(
            OnboardingWorkflow.answer_terms,
            AnswerTermsInput(accepted=True, terms_version="2024-07"),
        )
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await handle.execute_update(
                OnboardingWorkflow.choose_username, ChooseUsernameInput("short")
            )
        assert isinstance(raised.value.cause, ApplicationError)
        assert raised.value.cause.details[0]["username"] == ["Between 8 and 16 characters"]
        history = await decoded_bytes(await handle.fetch_history(), client)
        assert b'"short"' not in history
