"""Helpers for the archive: one sweep as the schedule runs it, what the archive holds, a journey
that closes, and Temporal dropping one as retention would."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from db.engine import make_engine
from db.models import JourneyArchive
from settings import Settings
from tests.conftest import until
from tests.journeys import begin, journey_handle
from workflows.archive import ArchiveWorkflow
from workflows.archive_types import ArchiveClosedInput, ArchiveClosedResult
from workflows.onboarding import OnboardingWorkflow
from workflows.types import AnswerTermsInput


async def sweep(client: Client, settings: Settings) -> ArchiveClosedResult:
    """One run of what the schedule starts every minute."""
    return await client.execute_workflow(
        ArchiveWorkflow.run,
        ArchiveClosedInput(task_queue=settings.task_queue),
        id=f"archive-test-{uuid.uuid4()}",
        task_queue=settings.task_queue,
    )


def archived(settings: Settings) -> dict[str, JourneyArchive]:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with Session(engine) as session:
            return {r.workflow_id: r for r in session.exec(select(JourneyArchive))}
    finally:
        engine.dispose()


async def declined_journey(client: Client, settings: Settings) -> str:
    workflow_id = await begin(client, settings)
    handle = journey_handle(client, workflow_id)
    await handle.execute_update(
        OnboardingWorkflow.answer_terms, AnswerTermsInput(accepted=False, terms_version="2024-07")
    )
    await handle.result()
    return workflow_id


async def delete_from_temporal(client: Client, workflow_id: str) -> None:
    """What retention does to a closed journey, now."""
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        )
    )

    async def gone() -> bool:
        try:
            await client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError as err:
            return err.status is RPCStatusCode.NOT_FOUND
        return False

    await until(gone, what=f"Temporal to drop {workflow_id}", timeout=60)


async def archive_now(client: Client, settings: Settings, *workflow_ids: str) -> None:
    """Sweeps until the journeys are in the archive: visibility sees a close a moment later."""

    async def archived_all() -> bool:
        await sweep(client, settings)
        return set(workflow_ids) <= set(archived(settings))

    await until(archived_all, what=f"{', '.join(workflow_ids)} in the archive")
