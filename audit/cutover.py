"""The cut-over to encrypted payloads: which running workflows of this deployment still run on
a plain history (one started before encryption), and moving each journey onto an encrypted one.

    python -m audit cut-over          # signals every journey still on plain history to move
    python -m audit cut-over --check  # only says what is left; exits 1 while anything is

Run with the worker's settings while the cut-over window is open (PAYLOAD_ACCEPT_PLAINTEXT);
README, "Encryption in Temporal", says when to close it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TextIO

from temporalio.client import Client

from core.crypto import ENCODING
from workflows.archive_types import JOURNEY_WORKFLOW_TYPE
from workflows.onboarding import OnboardingWorkflow
from workflows.types import MoveToEncryptedHistoryInput


@dataclass(frozen=True)
class Running:
    workflow_id: str
    workflow_type: str
    plain: bool  # its current run began with a payload that is not encrypted


async def running(client: Client, task_queue: str) -> AsyncIterator[Running]:
    """This deployment's running workflows, each with how its current run began."""
    query = f"TaskQueue = '{task_queue.replace(chr(39), '')}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        async for first in handle.fetch_history_events(page_size=1):
            started = first.workflow_execution_started_event_attributes
            encodings = {p.metadata.get("encoding") for p in started.input.payloads}
            yield Running(execution.id, execution.workflow_type, bool(encodings - {ENCODING}))
            break


async def cut_over(
    client: Client, task_queue: str, out: TextIO, *, check: bool, operator: str
) -> int:
    """One line per workflow still on plain history, then a count; 1 while any is left."""
    left = encrypted = 0
    async for workflow in running(client, task_queue):
        if not workflow.plain:
            encrypted += 1
            continue
        left += 1
        if workflow.workflow_type == JOURNEY_WORKFLOW_TYPE and not check:
            journey = client.get_workflow_handle_for(OnboardingWorkflow.run, workflow.workflow_id)
            await journey.signal(
                OnboardingWorkflow.move_to_encrypted_history,
                MoveToEncryptedHistoryInput(operator=operator),
            )
            out.write(f"MOVING {workflow.workflow_id}\n")
        elif workflow.workflow_type == JOURNEY_WORKFLOW_TYPE:
            out.write(f"PLAIN {workflow.workflow_id}\n")
        else:
            # A password reset or an archive sweep: short-lived, it ends on its own.
            out.write(f"WAIT {workflow.workflow_id} ({workflow.workflow_type} ends on its own)\n")
    out.write(f"{encrypted} on encrypted history, {left} on plain history\n")
    return 1 if left else 0
