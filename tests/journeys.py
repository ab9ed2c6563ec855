"""A journey driven through the client as the web drives it, shared by the workflow tests."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from typing import TYPE_CHECKING

from temporalio.client import Client, WorkflowHandle

from core.hashing import hash_answers, hash_password
from core.links import read_token
from settings import Settings
from web.journeys import Journeys, new_workflow_id
from workflows.onboarding import OnboardingWorkflow

if TYPE_CHECKING:
    from tests.conftest import MailCatcher
from workflows.types import (
    AnswerTermsInput,
    ChooseUsernameInput,
    ConfirmEmailInput,
    CreateAccountInput,
    CreateAccountResult,
    JourneyState,
    LoginMethod,
    OnboardingResult,
    Profile,
    RecoveryAnswer,
    SetPasswordInput,
    SetRecoveryAnswersInput,
    SetRecoveryEmailInput,
    Step,
)

PASSWORD = "Quoll7Mynx"  # no 3-character run of it can occur in a test username
ANSWERS = ["Rex the dog", "Lord Byng School", "Elm Street"]
QUESTION_IDS = ["first_pet", "first_school", "childhood_street"]
HINTS = ["a dog", "", "a tree"]

Journey = WorkflowHandle[OnboardingWorkflow, OnboardingResult]


def journey_handle(client: Client, workflow_id: str) -> Journey:
    # Declared, so mypy can solve the handle's type: left to infer it from ``run`` alone, it
    # sometimes solves it as Never when the workflows are checked in the same run.
    return client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)


async def begin(
    client: Client,
    settings: Settings,
    expire_after_seconds: int | None = None,
    language: str = "en",
) -> str:
    """The GCKey login choice, started the way the site starts it."""
    if expire_after_seconds is not None:
        settings = settings.model_copy(update={"expire_after_hours": expire_after_seconds / 3600})
    workflow_id = new_workflow_id()
    await Journeys(client, settings).begin(workflow_id, LoginMethod.GCKEY, language)
    return workflow_id


async def choose_credentials(handle: Journey, username: str) -> None:
    """GCKey sign-up steps 1 to 4: terms, username, password, recovery answers."""
    await handle.execute_update(
        OnboardingWorkflow.answer_terms, AnswerTermsInput(accepted=True, terms_version="2024-07")
    )
    await handle.execute_update(OnboardingWorkflow.choose_username, ChooseUsernameInput(username))
    await handle.execute_update(
        OnboardingWorkflow.set_password, SetPasswordInput(await hash_password(PASSWORD))
    )
    hashes = await hash_answers(ANSWERS)
    await handle.execute_update(
        OnboardingWorkflow.set_recovery_answers,
        SetRecoveryAnswersInput(
            [
                RecoveryAnswer(q, h, hint)
                for q, h, hint in zip(QUESTION_IDS, hashes, HINTS, strict=True)
            ]
        ),
    )


async def sign_up(client: Client, workflow_id: str, username: str) -> None:
    """GCKey sign-up, all five steps; no recovery e-mail."""
    handle = journey_handle(client, workflow_id)
    await choose_credentials(handle, username)
    await handle.execute_update(OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(""))


async def create_account(handle: Journey, address: str) -> CreateAccountResult:
    return await handle.execute_update(
        OnboardingWorkflow.create_account,
        CreateAccountInput(Profile("Marie", "Tremblay", address, "", "America/Toronto", "en")),
    )


def new_address() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.ca"


def new_username() -> str:
    return f"exporter{uuid.uuid4().hex[:6]}"


def link_number_in(message: EmailMessage, secret_key: str) -> int:
    """The link number the person would submit by opening the e-mail's link."""
    body = message.get_body(("plain",))
    assert body is not None
    match = re.search(r"/confirm/(\S+)", body.get_content())
    assert match, "the e-mail holds no confirmation link"
    link = read_token(secret_key, match.group(1))
    assert link is not None, "the e-mail's link does not verify"
    return link.link_number


async def at_portal(handle: Journey) -> JourneyState:
    """The journey reached the portal. It stays open from there, as the record of its access,
    so there is no result to wait for."""
    from tests.conftest import until

    async def reached() -> bool:
        state = await handle.query(OnboardingWorkflow.journey)
        return state.step is Step.PORTAL

    await until(reached, what="the journey to reach the portal")
    return await handle.query(OnboardingWorkflow.journey)


async def terminate_if_running(handle: Journey) -> None:
    """Ends a journey a test leaves open. (The time-skipping server's describe() answers with
    datetime search attributes the SDK cannot read, so this asks by terminating.)"""
    from temporalio.service import RPCError

    try:
        await handle.terminate("test finished")
    except RPCError as err:
        if "completed" not in str(err).lower() and "not found" not in str(err).lower():
            raise


async def to_portal(
    client: Client, settings: Settings, smtp: MailCatcher, username: str, language: str = "en"
) -> Journey:
    """A GCKey journey walked to the portal: sign-up, Create User Account, and the link in
    the confirmation e-mail the SMTP server received."""
    workflow_id = await begin(client, settings, language=language)
    await sign_up(client, workflow_id, username)
    handle = journey_handle(client, workflow_id)
    address = new_address()
    await create_account(handle, address)
    (message,) = await smtp.wait_for(address)
    link = link_number_in(message, settings.secret_key.get_secret_value())
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(link))
    await at_portal(handle)
    return handle
