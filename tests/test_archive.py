"""Closed journeys are swept into the archive, and read and replayed from it once Temporal
has dropped them."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

from sqlmodel import Session, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, ScheduleIntervalSpec
from temporalio.service import RPCError, RPCStatusCode

from audit.__main__ import replay_command
from audit.sources import Source, read_journey
from audit.timeline import build_timeline
from db.engine import make_engine
from db.models import JourneyArchive
from settings import Settings
from tests.conftest import NewWorker, until
from tests.journeys import begin
from worker import ensure_archive_schedule
from workflows.archive import ArchiveWorkflow
from workflows.archive_types import ArchiveClosedInput, ArchiveClosedResult, archive_schedule_id
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
    handle = client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)
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


async def test_closed_journeys_are_archived_once_and_read_after_temporal_drops_them(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings):
        declined = await declined_journey(client, settings)
        terminated = await begin(client, settings)
        await client.get_workflow_handle(terminated).terminate("opened by mistake")
        open_journey = await begin(client, settings)

        async def both_archived() -> bool:
            await sweep(client, settings)
            return {declined, terminated} <= set(archived(settings))

        # Visibility catches up with a close a moment later; the next sweep finds it.
        await until(both_archived, what="both closed journeys in the archive")
        rows = archived(settings)
        assert open_journey not in rows
        assert rows[declined].status == "Completed"
        assert rows[terminated].status == "Terminated"
        history = await client.get_workflow_handle(declined).fetch_history()
        assert rows[declined].history_json == history.to_json()
        assert rows[declined].event_count == len(history.events)
        again = await sweep(client, settings)
        assert again.archived == 0

        await delete_from_temporal(client, declined)
        engine = make_engine(settings.sqlalchemy_url)
        try:
            journey = await read_journey(client, engine, declined)
        finally:
            engine.dispose()
        assert [run.source for run in journey.runs] == [Source.ARCHIVE]
        said = [e.says.render(lambda m: m) for e in build_timeline(journey.latest.history)]
        assert said[-1] == "Journey ended: the terms and conditions were declined."

        for args in (["--workflow-id", declined], ["--from-archive", "--workflow-id", declined]):
            out = io.StringIO()
            assert await replay_command(["replay", *args], client, settings, out) == 0
            assert out.getvalue().startswith(f"PASS {declined} run ")
            assert "(archive)" in out.getvalue()


async def test_the_archive_schedule_is_made_once_and_follows_the_setting(
    client: Client, settings: Settings
) -> None:
    await ensure_archive_schedule(client, settings)
    settings.archive_every_seconds = 300
    await ensure_archive_schedule(client, settings)  # a restart with a new interval
    handle = client.get_schedule_handle(archive_schedule_id(settings.task_queue))
    try:
        description = await handle.describe()
        (interval,) = description.schedule.spec.intervals
        assert interval == ScheduleIntervalSpec(every=timedelta(seconds=300))
        action = description.schedule.action
        assert getattr(action, "workflow", None) == "ArchiveWorkflow"
    finally:
        await handle.delete()
