"""What every gateway to Temporal shares: the site's deadline on each call, the one mapping of
a Temporal that does not answer to the "service unavailable" page, and a refused update
turned into form errors or a typed refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from settings import Settings
from workflows.types import INVALID_INPUT

W = TypeVar("W")  # the workflow class a gateway talks to
A = TypeVar("A")
R = TypeVar("R")


class TemporalUnavailable(Exception):
    """Temporal did not answer in time; nothing the user sent is lost, they may try again."""


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
    """The workflow has ended; nothing more can be sent to it."""


def is_unavailable(err: BaseException) -> bool:
    if isinstance(err, RPCTimeoutOrCancelledError | WorkflowUpdateRPCTimeoutOrCancelledError):
        return True
    if isinstance(err, TimeoutError):
        return True
    return isinstance(err, RPCError) and err.status in (
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
    )


@asynccontextmanager
async def deadline() -> AsyncIterator[None]:
    """The one place a Temporal that does not answer becomes TemporalUnavailable."""
    try:
        yield
    except Exception as err:
        if is_unavailable(err):
            raise TemporalUnavailable from err
        raise


def not_found(err: BaseException) -> bool:
    return isinstance(err, RPCError) and err.status is RPCStatusCode.NOT_FOUND


@dataclass(frozen=True)
class Failing:
    """A running workflow whose workflow task keeps failing: the worker refuses it."""

    workflow_id: str
    workflow_type: str
    started_at: datetime | None
    attempt: int


class Gateway(Generic[W]):
    """Calls to one kind of workflow, each with the site's deadline."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.timeout = timedelta(seconds=settings.temporal_rpc_timeout_seconds)

    async def submit(
        self,
        workflow_id: str,
        update: UpdateMethodMultiParam[[W, A], R],
        arg: A,
        update_id: str | None = None,
    ) -> R | Rejected:
        """A form step: its result, or a Rejected carrying the field messages. A refusal by
        the workflow raises StepRefused; a closed workflow, JourneyClosed. Under the same
        ``update_id`` (web/forms.py) a repeat gets the first one's outcome, whatever the
        journey did since, as long as it is the same run."""
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            async with deadline():
                result: R = await handle.execute_update(
                    update, arg, id=update_id, rpc_timeout=self.timeout
                )
                return result
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                if cause.type == INVALID_INPUT and cause.details:
                    return Rejected(dict(cause.details[0]))
                raise StepRefused(cause.type or "") from err
            raise
        except RPCError as err:
            if not_found(err):
                raise JourneyClosed from err
            raise

    async def send(
        self,
        workflow_id: str,
        update: UpdateMethodMultiParam[[W, A], R],
        arg: A,
        update_id: str | None = None,
    ) -> R:
        """An update whose form has no fields to reject: a rejected input is a refusal too."""
        result = await self.submit(workflow_id, update, arg, update_id)
        if isinstance(result, Rejected):
            raise StepRefused(INVALID_INPUT)
        return result

    async def failing(self, query: str, limit: int = 100) -> list[Failing]:
        """The running workflows ``query`` finds (at most ``limit``) whose workflow task has
        failed and is being retried; visibility cannot tell, so each is described."""
        async with deadline():
            found = [
                execution
                async for execution in self.client.list_workflows(
                    query, limit=limit, rpc_timeout=self.timeout
                )
            ]

        async def attempt(workflow_id: str, run_id: str) -> int:
            handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
            try:
                async with deadline():
                    described = await handle.describe(rpc_timeout=self.timeout)
            except RPCError:
                return 0
            return described.raw_description.pending_workflow_task.attempt

        attempts = await asyncio.gather(*(attempt(e.id, e.run_id) for e in found))
        return [
            Failing(e.id, e.workflow_type, e.start_time, n)
            for e, n in zip(found, attempts, strict=True)
            if n > 1
        ]

    async def _query(self, workflow_id: str, query: Any, timeout: timedelta | None) -> Any:
        """What the workflow's query answers, or None when there is no such workflow."""
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            async with deadline():
                return await handle.query(query, rpc_timeout=timeout or self.timeout)
        except RPCError as err:
            if not_found(err):
                return None
            raise
