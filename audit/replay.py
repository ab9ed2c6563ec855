"""Replays histories with today's workflow code: a change that running or archived journeys
could not survive is reported with the exact non-determinism, before it is deployed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from audit.sources import RunHistory, Source, from_json
from core.crypto import KeyRing
from core.temporal import history_converter
from workflows.registry import WORKFLOWS


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str
    run_id: str
    source: Source
    error: str = ""  # the replayer's own message; empty when the history replayed

    @property
    def passed(self) -> bool:
        return not self.error

    def line(self) -> str:
        """One line per run, as the replay command prints it."""
        where = f"{self.workflow_id} run {self.run_id} ({self.source})"
        return f"PASS {where}" if self.passed else f"FAIL {where}: {self.error}"


async def replay(
    runs: Iterable[RunHistory], ring: KeyRing, workflows: Sequence[type] = WORKFLOWS
) -> list[ReplayOutcome]:
    """Every run replayed with ``workflows`` (today's code unless a test says otherwise). The
    ring decrypts what Temporal or the archive holds; plain histories, recorded before
    encryption or exported from a journey's page, replay as they are."""
    by_history = {id(run.history): run for run in runs}

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for run in by_history.values():
            yield run.history

    outcomes = []
    replayer = Replayer(workflows=workflows, data_converter=history_converter(ring))
    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            run = by_history[id(result.history)]
            failure = result.replay_failure
            error = f"{type(failure).__name__}: {failure}" if failure else ""
            outcomes.append(ReplayOutcome(run.history.workflow_id, run.run_id, run.source, error))
    return outcomes


def read_files(paths: Iterable[Path]) -> list[RunHistory]:
    """Histories exported as JSON: the committed ones under tests/histories/, or a download
    from a journey's page. The workflow id is read from the history itself."""
    runs = []
    for path in paths:
        text = path.read_text()
        started = from_json(path.stem, text, Source.FILE).history.events[0]
        workflow_id = started.workflow_execution_started_event_attributes.workflow_id
        runs.append(from_json(workflow_id or path.stem, text, Source.FILE))
    return runs
