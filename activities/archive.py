"""Archiving activities: a closed journey's whole history, closing event included, copied
into the application database so auditors can read and replay it after Temporal drops it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from core.crypto import PayloadRefused
from db.models import JourneyArchive
from workflows.archive_types import (
    JOURNEY_WORKFLOW_TYPE,
    ArchiveJourneyInput,
    ArchiveJourneyResult,
    ClosedJourneysInput,
    ClosedJourneysResult,
    ClosedRun,
)

# Visibility lags a little behind history: look back this far before the newest archived
# close, and let the archive skip what it already holds.
LOOK_BACK = timedelta(minutes=10)

CLOSING = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "Completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "Failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "TimedOut",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "Canceled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "Terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "ContinuedAsNew",
}


def visibility_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def closed_query(task_queue: str, after: datetime | None = None) -> str:
    """Visibility query: this deployment's journeys that have closed (since ``after``)."""
    query = f"WorkflowType = '{JOURNEY_WORKFLOW_TYPE}' AND TaskQueue = '{task_queue}'"
    query += " AND ExecutionStatus != 'Running'"
    if after is not None:
        query += f" AND CloseTime >= '{visibility_time(after)}'"
    return query


def closed_window_query(
    after: datetime | None, before: datetime | None, task_queue: str = ""
) -> str:
    """Visibility query: every journey that closed in the window, whatever its deployment
    unless a task queue is named."""
    query = f"WorkflowType = '{JOURNEY_WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'"
    if task_queue:
        query += f" AND TaskQueue = '{task_queue}'"
    if after is not None:
        query += f" AND CloseTime >= '{visibility_time(after)}'"
    if before is not None:
        query += f" AND CloseTime < '{visibility_time(before)}'"
    return query


def canonical_json(history: WorkflowHistory) -> str:
    """The history as JSON with its keys sorted: protobuf writes a map (search attributes) in
    no fixed order, and an export, its checksum and the archive must agree byte for byte."""
    return json.dumps(json.loads(history.to_json()), indent=2, sort_keys=True)


class NotClosedYet(Exception):
    """The history has no closing event yet; retried."""


class ArchiveActivities:
    def __init__(self, client: Client, engine: Engine, reader: DataConverter) -> None:
        self._client = client
        self._engine = engine
        self._reader = reader  # reads the journey id out of the (encrypted) history

    @activity.defn
    async def closed_journeys(self, input: ClosedJourneysInput) -> ClosedJourneysResult:
        """Closed runs not yet archived, oldest close first, at most ``limit``."""
        newest = await asyncio.to_thread(self._newest_close)
        after = newest - LOOK_BACK if newest else None
        found = [
            ClosedRun(e.id, e.run_id, e.close_time)
            async for e in self._client.list_workflows(closed_query(input.task_queue, after))
        ]
        held = await asyncio.to_thread(self._held, {r.workflow_id for r in found})
        runs = [r for r in found if (r.workflow_id, r.run_id) not in held]
        runs.sort(key=lambda r: r.closed_at or datetime.min.replace(tzinfo=UTC))
        return ClosedJourneysResult(runs=runs[: input.limit])

    def _newest_close(self) -> datetime | None:
        with Session(self._engine) as session:
            newest: datetime | None = session.exec(select(func.max(JourneyArchive.closed_at))).one()
            return newest

    def _held(self, workflow_ids: set[str]) -> set[tuple[str, str]]:
        with Session(self._engine) as session:
            rows = session.exec(
                select(JourneyArchive.workflow_id, JourneyArchive.run_id).where(
                    col(JourneyArchive.workflow_id).in_(workflow_ids)
                )
            )
            return {(w, r) for w, r in rows}

    @activity.defn
    async def archive_journey(self, input: ArchiveJourneyInput) -> ArchiveJourneyResult:
        """Stores the run's history once; a second call finds it there and changes nothing."""
        handle = self._client.get_workflow_handle(input.workflow_id, run_id=input.run_id)
        try:
            history = await handle.fetch_history()
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            # Deleted between the listing and now: nothing left to keep.
            activity.logger.warning(
                "%s run %s is gone from Temporal", input.workflow_id, input.run_id
            )
            return ArchiveJourneyResult(archived=False)
        last = history.events[-1]
        if last.event_type not in CLOSING:
            raise NotClosedYet(f"{input.workflow_id} run {input.run_id} has not closed")
        row = JourneyArchive(
            workflow_id=input.workflow_id,
            run_id=input.run_id,
            journey_id=await journey_id_in(history, self._reader),
            status=CLOSING[last.event_type],
            closed_at=last.event_time.ToDatetime(tzinfo=UTC),
            archived_at=datetime.now(UTC),
            history_json=canonical_json(history),
            event_count=len(history.events),
        )
        archived = await asyncio.to_thread(self._store, row)
        return ArchiveJourneyResult(archived=archived, event_count=len(history.events))

    def _store(self, row: JourneyArchive) -> bool:
        with Session(self._engine) as session:
            if session.get(JourneyArchive, (row.workflow_id, row.run_id)) is not None:
                return False
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # another sweep stored it between our read and write
                return False
        return True


async def journey_id_in(history: WorkflowHistory, reader: DataConverter) -> str:
    """The journey id the workflow was started with (its input), else the workflow id. The
    history stays as Temporal holds it, encrypted; only this one value is read out of it."""
    started = history.events[0].workflow_execution_started_event_attributes
    try:
        (value,) = (await reader.decode(list(started.input.payloads)))[:1]
    except (ValueError, TypeError, PayloadRefused):
        return history.workflow_id
    journey_id = value.get("journey_id") if isinstance(value, dict) else None
    return str(journey_id) if journey_id else history.workflow_id
