"""Talking to the onboarding workflow: start, update, query, with rejections turned into
form errors and the journey's current step turned into the page that shows it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from core.links import ConfirmationLink, read_token
from settings import Settings
from workflows.inputs import onboarding_input
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    INVALID_INPUT,
    ONBOARDING_ID_PREFIX,
    BeginInput,
    JourneyState,
    LoginMethod,
    OnboardingResult,
    Step,
)

WORKFLOW_ID_PREFIX = ONBOARDING_ID_PREFIX

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
    Step.CANCELLED: "journey_cancelled",
    Step.GCKEY_EXPIRED: "gckey_sign_in",
}


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


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


class GoTo(Exception):
    """Raised by a dependency: send the browser to the named page, in its language."""

    def __init__(self, page: str) -> None:
        super().__init__(page)
        self.page = page


class JourneyClosed(Exception):
    """The journey has ended; nothing more can be sent to it."""


def handle(client: Client, workflow_id: str) -> WorkflowHandle[Any, OnboardingResult]:
    return client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)


def new_workflow_id() -> str:
    """Opaque: a journey's id never carries an e-mail, a name or a username."""
    return workflow_id_for(str(uuid.uuid4()))


def workflow_id_for(journey_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{journey_id}"


def journey_id_of(workflow_id: str) -> str:
    """The key the application database files a journey under."""
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


@dataclass
class AtStep:
    """A journey and where it stands."""

    workflow_id: str
    state: JourneyState


class TemporalUnavailable(Exception):
    """Temporal did not answer in time; nothing the user sent is lost, they may try again."""


class Journeys:
    """The web's one way to the onboarding workflow; every call has a deadline."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.timeout = timedelta(seconds=settings.temporal_rpc_timeout_seconds)

    async def begin(self, workflow_id: str, method: LoginMethod, lang: str) -> Step:
        """The login choice starts the journey (update-with-start; a repeat finds the same one)."""
        settings = self.settings
        start = WithStartWorkflowOperation(
            OnboardingWorkflow.run,
            onboarding_input(settings, journey_id_of(workflow_id)),
            id=workflow_id,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=settings.task_queue,
        )
        try:
            async with self._deadline():
                result = await self.client.execute_update_with_start_workflow(
                    OnboardingWorkflow.begin,
                    BeginInput(login_method=method, language=lang),
                    start_workflow_operation=start,
                    rpc_timeout=self.timeout,
                )
        except BaseException:
            # The start operation holds its own copy of the failure; collect it, so no
            # future is left with an exception nobody retrieved.
            with suppress(BaseException):
                await asyncio.wait_for(start.workflow_handle(), timeout=1)
            raise
        step: Step = result.step
        return step

    async def choose_login(self, request: Request, method: LoginMethod, lang: str) -> Step:
        """This browser's journey takes the choice; a new journey if it has none still open."""
        current = await self.of_browser(request)
        if (
            current is None
            or current.state.step in (Step.DECLINED, Step.PORTAL)
            or current.state.gckey_issued_at is not None
        ):
            workflow_id = new_workflow_id()
        else:
            workflow_id = current.workflow_id
        request.session["journey"] = workflow_id
        return await self.begin(workflow_id, method, lang)

    async def send(self, workflow_id: str, update: Any, arg: Any) -> Any:
        """Runs one form step; returns its result or a Rejected carrying the field messages."""
        try:
            async with self._deadline():
                return await handle(self.client, workflow_id).execute_update(
                    update, arg, rpc_timeout=self.timeout
                )
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

    async def of_browser(self, request: Request) -> AtStep | None:
        """The journey this browser's session is filling in, and where it stands."""
        workflow_id = request.session.get("journey")
        state = await self.state(workflow_id) if isinstance(workflow_id, str) else None
        if state is None or not isinstance(workflow_id, str):
            return None
        return AtStep(workflow_id, state)

    async def state(self, workflow_id: str) -> JourneyState | None:
        state: JourneyState | None = await self.query(workflow_id, OnboardingWorkflow.journey)
        return state

    async def query(self, workflow_id: str, query: Any) -> Any | None:
        """What the workflow's query answers, or None when there is no such workflow."""
        try:
            async with self._deadline():
                return await handle(self.client, workflow_id).query(query, rpc_timeout=self.timeout)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return None
            raise

    @asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        try:
            yield
        except (RPCTimeoutOrCancelledError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
            raise TemporalUnavailable from err
        except RPCError as err:
            if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE):
                raise TemporalUnavailable from err
            raise


def get_journeys(request: Request) -> Journeys:
    return Journeys(request.app.state.client, request.app.state.settings)


JourneyService = Annotated[Journeys, Depends(get_journeys)]


def at_step(step: Step) -> Callable[[Request, JourneyService], Awaitable[AtStep]]:
    """A dependency: the session's journey if it stands at ``step``; otherwise the browser
    is sent to where it belongs."""

    async def dependency(request: Request, journeys: JourneyService) -> AtStep:
        current = await journeys.of_browser(request)
        if current is None:
            raise GoTo("login")
        if current.state.step is not step:
            raise GoTo(STEP_PAGES[current.state.step])
        return current

    return dependency


async def issued(request: Request, journeys: JourneyService) -> AtStep:
    """A dependency: the session's journey once its GCKey is issued."""
    current = await journeys.of_browser(request)
    if current is None or current.state.gckey_issued_at is None:
        raise GoTo("login")
    return current


def confirmation_link(request: Request, token: str) -> ConfirmationLink:
    """A dependency: the journey and link number a confirmation token names, or 404."""
    link = read_token(request.app.state.settings.secret_key.get_secret_value(), token)
    if link is None:
        raise HTTPException(404)
    return link


def posted_journey(request: Request) -> str:
    """The journey a form posts to. No query first: the update's validator checks the step,
    and a journey elsewhere answers WrongStep, which sends the browser where it stands."""
    workflow_id = request.session.get("journey")
    if not isinstance(workflow_id, str):
        raise GoTo("login")
    return workflow_id


def signed_in(request: Request) -> str:
    """The signed-in journey; anyone else is sent to GCKey Sign In."""
    workflow_id = request.session.get("auth")
    if not isinstance(workflow_id, str):
        raise GoTo("gckey_sign_in")
    return workflow_id


PostedJourney = Annotated[str, Depends(posted_journey)]
Issued = Annotated[AtStep, Depends(issued)]
LinkInToken = Annotated[ConfirmationLink, Depends(confirmation_link)]
SignedIn = Annotated[str, Depends(signed_in)]


def goto(request: Request, lang: str, page: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(request.url_for(page, lang=lang), status_code=status_code)


def goto_step(request: Request, lang: str, step: Step) -> RedirectResponse:
    return goto(request, lang, STEP_PAGES[step])
