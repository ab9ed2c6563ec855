"""Closed journeys are swept into the archive, and read and replayed from it once Temporal
has dropped them."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

from temporalio.client import Client, ScheduleIntervalSpec, WorkflowHistory
from temporalio.testing import ActivityEnvironment

from activities.archive import ArchiveActivities
from audit.__main__ import replay_command
from audit.sources import Source, read_journey
from audit.timeline import build_timeline
from db.engine import make_engine
from settings import Settings
from tests.archive_helpers import (
    archive_now,
    archived,
    declined_journey,
    delete_from_temporal,
    sweep,
)
from tests.conftest import NewWorker, reader
from tests.journeys import begin
from worker import ensure_archive_schedule
from workflows.archive_types import ArchiveJourneyInput, ArchiveJourneyResult, archive_schedule_id


async def test_closed_journeys_are_archived_once_and_read_after_temporal_drops_them(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings):
        declined = await declined_journey(client, settings)
        terminated = await begin(client, settings)
        await client.get_workflow_handle(terminated).terminate("opened by mistake")
        open_journey = await begin(client, settings)
        await archive_now(client, settings, declined, terminated)
        rows = archived(settings)
        assert open_journey not in rows
        assert rows[declined].status == "Completed"
        assert rows[terminated].status == "Terminated"
        history = await client.get_workflow_handle(declined).fetch_history()
        # The same events; JSON alone may order a search-attribute map differently.
        kept = WorkflowHistory.from_json(declined, rows[declined].history_json)
        assert kept.events == history.events
        assert rows[declined].event_count == len(history.events)
        again = await sweep(client, settings)
        assert again.archived == 0

        # The window the replay command takes, around this journey's close only.
        closed_at = (await client.get_workflow_handle(declined).describe()).close_time
        assert closed_at is not None
        window = [
            "--closed-after",
            closed_at.isoformat(),
            "--closed-before",
            (closed_at + timedelta(microseconds=1)).isoformat(),
        ]
        for args in (window, ["--from-archive", *window]):
            out = io.StringIO()
            assert await replay_command(["replay", *args], client, settings, out) == 0
            assert out.getvalue().splitlines()[-1] == "1 passed, 0 failed", out.getvalue()
            assert out.getvalue().startswith(f"PASS {declined} run ")

        await delete_from_temporal(client, declined)
        engine = make_engine(settings.sqlalchemy_url)
        try:
            keys = reader(client)
            journey = await read_journey(client, engine, declined, keys)
        finally:
            engine.dispose()
        assert [run.source for run in journey.runs] == [Source.ARCHIVE]
        said = [e.says.render(lambda m: m) for e in build_timeline(journey.latest.shown)]
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


async def test_a_journey_deleted_before_its_sweep_is_skipped_not_retried_forever(
    client: Client, settings: Settings
) -> None:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        activities = ArchiveActivities(client, engine, client.data_converter)
        gone = ArchiveJourneyInput(workflow_id=f"onboarding-{uuid.uuid4()}", run_id="")
        result = await ActivityEnvironment().run(activities.archive_journey, gone)
    finally:
        engine.dispose()
    assert result == ArchiveJourneyResult(archived=False)
    assert gone.workflow_id not in archived(settings)
