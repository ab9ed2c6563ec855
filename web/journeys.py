"""Talking to the onboarding workflow: start, update, query, with rejections turned into
form errors and the journey's current step turned into the page that shows it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from settings import Settings
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    INVALID_INPUT,
    BeginInput,
    JourneyState,
    LoginMethod,
    OnboardingInput,
    OnboardingResult,
    Step,
)

R = TypeVar("R")
WORKFLOW_ID_PREFIX = "onboarding-"

# The page that shows each step; a returning user is sent to the one their journey is at.
STEP_PAGES = {
    Step.PARTNER_SIGN_IN: "partner",
    Step.TERMS: "terms",
    Step.USERNAME: "username",
    Step.PASSWORD: "password",
    Step.RECOVERY_ANSWERS: "recovery",
    Step.RECOVERY_EMAIL: "recovery_email",
    Step.CREATE_ACCOUNT: "welcome",
    Step.CONFIRM_EMAIL: "portal",
    Step.PORTAL: "portal",
    Step.DECLINED: "declined",
}


def get_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


TemporalClient = Annotated[Client, Depends(get_client)]
AppSettings = Annotated[Settings, Depends(get_settings)]


@dataclass
class Rejected:
    """A rule was broken: form field -> messages (English msgids, translated by the page)."""

    errors: dict[str, list[str]]


class StepRefused(Exception):
    """The workflow refused the message: ``kind`` is its ApplicationError type."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class JourneyClosed(Exception):
    """The journey has ended; nothing more can be sent to it."""


def handle(client: Client, workflow_id: str) -> WorkflowHandle[Any, OnboardingResult]:
    return client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)


def new_workflow_id() -> str:
    """Opaque: a journey's id never carries an e-mail, a name or a username."""
    return f"{WORKFLOW_ID_PREFIX}{uuid.uuid4()}"


async def begin(
    client: Client, settings: Settings, workflow_id: str, method: LoginMethod, lang: str
) -> Step:
    """The login choice starts the journey (update-with-start; a repeat finds the same one)."""
    result = await client.execute_update_with_start_workflow(
        OnboardingWorkflow.begin,
        BeginInput(login_method=method, language=lang),
        start_workflow_operation=WithStartWorkflowOperation(
            OnboardingWorkflow.run,
            OnboardingInput(
                journey_id=workflow_id.removeprefix(WORKFLOW_ID_PREFIX),
                terms_version=settings.terms_version,
                recovery_question_count=settings.recovery_question_count,
                reminder_after_seconds=int(settings.reminder_after_hours * 3600),
                expire_after_seconds=int(settings.expire_after_hours * 3600),
            ),
            id=workflow_id,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=settings.task_queue,
        ),
    )
    return result.step


async def choose_login(
    request: Request, client: Client, settings: Settings, method: LoginMethod, lang: str
) -> Step:
    """This browser's journey takes the choice; a new journey if it has none still open."""
    workflow_id = request.session.get("journey")
    state = await state_of(client, workflow_id) if isinstance(workflow_id, str) else None
    if (
        not isinstance(workflow_id, str)
        or state is None
        or state.step in (Step.DECLINED, Step.PORTAL)
        or state.gckey_issued_at is not None
    ):
        workflow_id = new_workflow_id()
    request.session["journey"] = workflow_id
    return await begin(client, settings, workflow_id, method, lang)


async def send(client: Client, workflow_id: str, update: Any, arg: Any) -> Any:
    """Runs one form step; returns its result or a Rejected carrying the field messages."""
    try:
        return await handle(client, workflow_id).execute_update(update, arg)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            if cause.type == INVALID_INPUT and cause.details:
                return Rejected(dict(cause.details[0]))
            raise StepRefused(cause.type or "") from err
        raise
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise JourneyClosed from err
        raise


async def state_of(client: Client, workflow_id: str) -> JourneyState | None:
    try:
        return await handle(client, workflow_id).query(OnboardingWorkflow.journey)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


def goto(request: Request, lang: str, page: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(request.url_for(page, lang=lang), status_code=status_code)


def goto_step(request: Request, lang: str, step: Step) -> RedirectResponse:
    return goto(request, lang, STEP_PAGES[step])
