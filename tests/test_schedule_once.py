"""However many workers start at once (`docker compose up --scale worker=3`), there is one
archive schedule per task queue, at the settings' interval, and none of them fails to start."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client

from settings import Settings
from tests.conftest import until
from worker import ensure_archive_schedule
from workflows.archive_types import archive_schedule_id

WORKERS = 6


async def schedules_of(client: Client, schedule_id: str) -> list[str]:
    return [s.id async for s in await client.list_schedules() if s.id == schedule_id]


async def test_workers_starting_together_make_one_schedule(
    client: Client, settings: Settings
) -> None:
    schedule_id = archive_schedule_id(settings.task_queue)
    await asyncio.gather(*(ensure_archive_schedule(client, settings) for _ in range(WORKERS)))
    description = await client.get_schedule_handle(schedule_id).describe()
    assert [i.every for i in description.schedule.spec.intervals] == [
        timedelta(seconds=settings.archive_every_seconds)
    ]

    # A new release with another interval, rolled out to every worker at once: all start, and
    # the one schedule takes the new interval.
    changed = settings.model_copy(update={"archive_every_seconds": 17})
    await asyncio.gather(*(ensure_archive_schedule(client, changed) for _ in range(WORKERS)))
    description = await client.get_schedule_handle(schedule_id).describe()
    assert [i.every for i in description.schedule.spec.intervals] == [timedelta(seconds=17)]

    async def listed_once() -> bool:  # visibility lists a schedule a moment after it is made
        return await schedules_of(client, schedule_id) == [schedule_id]

    await until(listed_once, what="the one schedule in the list")
    await client.get_schedule_handle(schedule_id).delete()
