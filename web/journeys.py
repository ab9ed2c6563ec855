"""The journey gateway: every call the site makes to an onboarding journey's workflow in
Temporal (start, updates, its state, the staff list and description, its history)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecution,
    WorkflowExecutionDescription,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from audit.sources import JourneyHistory, read_journey
from core.crypto import EncryptionCodec
from core.temporal import decode_in_place
from settings import Settings
from web.temporal import Gateway, deadline, not_found
from workflows.inputs import onboarding_input
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    ONBOARDING_ID_PREFIX,
    BeginInput,
    BeginResult,
    JourneyState,
    JourneyView,
    LoginMethod,
)


def new_workflow_id() -> str:
    """Opaque: a journey's id never carries an e-mail, a name or a username."""
    return workflow_id_for(str(uuid.uuid4()))


def workflow_id_for(journey_id: str) -> str:
    return f"{ONBOARDING_ID_PREFIX}{journey_id}"


def journey_id_of(workflow_id: str) -> str:
    """The key the application database files a journey under."""
    return workflow_id.removeprefix(ONBOARDING_ID_PREFIX)


class ListPageGone(Exception):
    """A page of the staff list that cannot be had (its token forged, or too old for
    Temporal): the list starts again from its first page."""


@dataclass
class AtStep:
    """A journey and where it stands."""

    workflow_id: str
    state: JourneyView


class Journeys(Gateway[OnboardingWorkflow]):
    """The site's one way to the onboarding workflow; every call has the site's deadline.
    What staff read (descriptions, histories) is decoded with the key ring for them."""

    def __init__(self, client: Client, settings: Settings) -> None:
        super().__init__(client, settings)
        self.reader = EncryptionCodec(settings.payload_ring, accept_plaintext=True)

    async def begin(
        self, workflow_id: str, method: LoginMethod, lang: str, update_id: str | None = None
    ) -> BeginResult:
        """The login choice starts the journey (update-with-start; a repeat finds the same one,
        and under the same ``update_id`` gets the first answer). A journey id whose journey
        has ended is never started again (a new run would share its records): that raises
        WorkflowAlreadyStartedError."""
        settings = self.settings
        start = WithStartWorkflowOperation(
            OnboardingWorkflow.run,
            onboarding_input(settings, journey_id_of(workflow_id)),
            id=workflow_id,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            task_queue=settings.task_queue,
        )
        try:
            async with deadline():
                result = await self.client.execute_update_with_start_workflow(
                    OnboardingWorkflow.begin,
                    BeginInput(login_method=method, language=lang),
                    start_workflow_operation=start,
                    id=update_id,
                    rpc_timeout=self.timeout,
                )
        except BaseException:
            # The start operation holds its own copy of the failure; collect it, so no
            # future is left with an exception nobody retrieved.
            with suppress(BaseException):
                await asyncio.wait_for(start.workflow_handle(), timeout=1)
            raise
        begun: BeginResult = result
        return begun

    async def state(
        self, workflow_id: str, timeout: timedelta | None = None
    ) -> JourneyState | None:
        """Where the journey stands, or None when Temporal has no such journey."""
        state: JourneyState | None = await self._query(
            workflow_id, OnboardingWorkflow.journey, timeout
        )
        return state

    async def view(self, workflow_id: str) -> JourneyView | None:
        """What the person's pages need, read afresh; None when Temporal has no such journey."""
        view: JourneyView | None = await self._query(workflow_id, OnboardingWorkflow.view, None)
        return view

    async def describe(self, journey_id: str) -> WorkflowExecutionDescription | None:
        """Temporal's description of the journey (staff pages); None if it does not know it."""
        handle = self.client.get_workflow_handle(workflow_id_for(journey_id))
        try:
            async with deadline():
                described = await handle.describe(rpc_timeout=self.timeout)
        except RPCError as err:
            if not_found(err):
                return None
            raise
        # Pending activities' last failures (and any payload) as staff read them.
        await decode_in_place(described.raw_description, self.reader)
        return described

    async def list_page(
        self, query: str, page_size: int, token: bytes | None
    ) -> tuple[list[WorkflowExecution], bytes | None]:
        """One page of the journeys visibility finds for ``query``, and the next page's token.
        ListPageGone when Temporal will not take the token."""
        try:
            async with deadline():
                listing = self.client.list_workflows(
                    query, page_size=page_size, next_page_token=token, rpc_timeout=self.timeout
                )
                await listing.fetch_next_page()
        except RPCError as err:
            if token is not None and err.status is RPCStatusCode.INVALID_ARGUMENT:
                raise ListPageGone from err
            raise
        return list(listing.current_page or []), listing.next_page_token or None

    async def history(self, engine: Engine, journey_id: str) -> JourneyHistory:
        """Every run of the journey, from Temporal or else the archive (HistoryNotFound if
        neither has it). Reading several runs may take a few round trips."""
        async with deadline(), asyncio.timeout(self.timeout.total_seconds() * 3):
            return await read_journey(self.client, engine, workflow_id_for(journey_id), self.reader)
