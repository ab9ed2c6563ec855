"""Sweeps closed journeys into the archive, run every few minutes by a Temporal Schedule.

An activity run by the closing journey itself could not see its own closing event, so the
sweep runs after close: it lists what closed since the archive's newest entry and archives
each run, one activity per run, so one failing history is retried without the others.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.archive import ArchiveActivities
    from workflows.archive_types import (
        ArchiveClosedInput,
        ArchiveClosedResult,
        ArchiveJourneyInput,
        ClosedJourneysInput,
    )

# Reading a history and writing one row: a minute is generous.
TIMEOUT = timedelta(minutes=1)
ONE_RUN = RetryPolicy(maximum_attempts=5)


@workflow.defn
class ArchiveWorkflow:
    """Archives up to ``batch`` closed journeys of one task queue. No messages. The schedule
    starts it without input (worker.py says why): the task queue is then its own."""

    @workflow.run
    async def run(self, input: ArchiveClosedInput | None = None) -> ArchiveClosedResult:
        input = input or ArchiveClosedInput(task_queue=workflow.info().task_queue)
        closed = await workflow.execute_activity_method(
            ArchiveActivities.closed_journeys,
            ClosedJourneysInput(task_queue=input.task_queue, limit=input.batch),
            start_to_close_timeout=TIMEOUT,
        )
        archived = failed = 0
        for run in closed.runs:
            try:
                result = await workflow.execute_activity_method(
                    ArchiveActivities.archive_journey,
                    ArchiveJourneyInput(workflow_id=run.workflow_id, run_id=run.run_id),
                    start_to_close_timeout=TIMEOUT,
                    retry_policy=ONE_RUN,
                )
            except ActivityError:
                # One history that cannot be kept must not hold up the others; the next
                # sweep lists it again.
                workflow.logger.warning("could not archive %s run %s", run.workflow_id, run.run_id)
                failed += 1
                continue
            archived += result.archived
        workflow.logger.info("archived %d of %d closed journeys", archived, len(closed.runs))
        return ArchiveClosedResult(listed=len(closed.runs), archived=archived, failed=failed)
