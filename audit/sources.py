"""Where a journey's history is read from: Temporal while it has it, the archive after.

A journey that continued as new is several runs; they are read back to the first, each from
wherever it still is, so the timeline tells the whole journey.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Engine
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError, RPCStatusCode

from activities.archive import canonical_json
from audit.readable import readable
from core.temporal import decode_in_place
from db.queries import archived_run

# A chain longer than this is not a journey this service makes; stop rather than loop.
MAX_RUNS = 50


class Source(StrEnum):
    TEMPORAL = "temporal"
    ARCHIVE = "archive"
    FILE = "file"


class HistoryNotFound(Exception):
    """Neither Temporal nor the archive has this journey."""


@dataclass
class RunHistory:
    """One run's history as Temporal or the archive holds it (encrypted) and its JSON; once
    ``make_readable`` has run, the decoded, redacted copy people see and its export."""

    history: WorkflowHistory
    run_id: str
    source: Source
    # As read, when it was read as JSON (the archive, a file); from Temporal, made when asked
    # for: replaying a thousand runs has no use for it, and it costs milliseconds each.
    source_json: str = ""
    readable: WorkflowHistory | None = None
    export: str = ""  # the readable copy as JSON: what history.json serves

    @property
    def json(self) -> str:
        return self.source_json or canonical_json(self.history)

    async def make_readable(self, codec: PayloadCodec) -> None:
        self.readable = await readable(self.history, codec)
        self.export = canonical_json(self.readable)

    @property
    def shown(self) -> WorkflowHistory:
        assert self.readable is not None, "made readable before it is shown"
        return self.readable

    @property
    def sha256(self) -> str:
        """Of the export, exactly as served: the filed timeline names it."""
        assert self.readable is not None, "made readable before it is exported"
        return hashlib.sha256(self.export.encode()).hexdigest()

    @property
    def previous_run_id(self) -> str:
        """The run this one continued, if it was started by continue-as-new."""
        first = self.history.events[0].workflow_execution_started_event_attributes
        return first.continued_execution_run_id


@dataclass
class JourneyHistory:
    """Every run of a journey, oldest first; a running journey's pending activities."""

    workflow_id: str
    runs: list[RunHistory]
    running: bool = False
    pending: Sequence[PendingActivityInfo] = field(default_factory=list)

    @property
    def latest(self) -> RunHistory:
        return self.runs[-1]


def from_json(workflow_id: str, text: str, source: Source) -> RunHistory:
    history = WorkflowHistory.from_json(workflow_id, text)
    first = history.events[0].workflow_execution_started_event_attributes
    return RunHistory(history, first.original_execution_run_id, source, text)


def is_not_found(err: RPCError) -> bool:
    return err.status is RPCStatusCode.NOT_FOUND


async def read_run(client: Client, engine: Engine, workflow_id: str, run_id: str) -> RunHistory:
    """One run, from Temporal, else from the archive."""
    try:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        return RunHistory(history, run_id, Source.TEMPORAL)
    except RPCError as err:
        if not is_not_found(err):
            raise
    row = await asyncio.to_thread(archived_run, engine, workflow_id, run_id)
    if row is None:
        raise HistoryNotFound(f"{workflow_id} run {run_id or 'latest'}")
    return from_json(workflow_id, row.history_json, Source.ARCHIVE)


async def read_journey(
    client: Client, engine: Engine, workflow_id: str, codec: PayloadCodec | None = None
) -> JourneyHistory:
    """The journey's runs, the latest from Temporal's description when it still has it. With
    a ``codec`` (the key ring's, reading) every run is also made readable for people."""
    running = False
    pending: Sequence[PendingActivityInfo] = []
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
        latest = await read_run(client, engine, workflow_id, description.run_id)
        info = description.raw_description
        if codec is not None:
            await decode_in_place(info, codec)
        running = info.workflow_execution_info.status == (
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        )
        pending = list(info.pending_activities)
    except RPCError as err:
        if not is_not_found(err):
            raise
        latest = await read_run(client, engine, workflow_id, "")
    runs = [latest]
    while runs[0].previous_run_id and len(runs) < MAX_RUNS:
        runs.insert(0, await read_run(client, engine, workflow_id, runs[0].previous_run_id))
    if codec is not None:
        for run in runs:
            await run.make_readable(codec)
    return JourneyHistory(workflow_id, runs, running, pending)
