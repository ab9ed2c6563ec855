"""Replays histories with today's workflow code: a change that running or archived journeys
could not survive is reported with the exact non-determinism, before it is deployed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from audit.sources import RunHistory, Source, from_json
from core.crypto import DataKeyStore, KeyRing
from core.temporal import history_converter
from workflows.registry import WORKFLOWS


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str
    run_id: str
    source: Source
    error: str = ""  # the replayer's own message; empty when the history replayed
    erased: bool = False  # its data key destroyed: nothing left to replay, and no failure

    @property
    def passed(self) -> bool:
        return not self.error

    def line(self) -> str:
        """One line per run, as the replay command prints it."""
        where = f"{self.workflow_id} run {self.run_id} ({self.source})"
        if self.erased:
            return f"ERASED {where}: personal information erased, not replayed"
        return f"PASS {where}" if self.passed else f"FAIL {where}: {self.error}"


Progress = Callable[[int], None]  # told how many runs have been replayed so far


async def replay(
    runs: Iterable[RunHistory] | AsyncIterable[RunHistory],
    ring: KeyRing,
    workflows: Sequence[type] = WORKFLOWS,
    *,
    keys: DataKeyStore | None = None,
    erased: Collection[str] = (),
    progress: Progress | None = None,
    replayers: int = 1,
) -> list[ReplayOutcome]:
    """Every run replayed with ``workflows`` (today's code unless a test says otherwise), the
    outcomes in the order the runs came. The ring and each journey's data key (``keys``)
    decrypt what Temporal or the archive holds; plain histories, recorded before encryption
    or exported from a journey's page, replay as they are. A run of a workflow in ``erased``
    is reported as erased, not replayed: its payloads cannot be read by anyone any more.
    ``runs`` may still be arriving (an async iterable): replay starts on the first while the
    rest are fetched. ``replayers`` run side by side, the runs dealt out between them: one
    replayer waits on the SDK's core between histories, and others use that time."""
    outcomes: list[tuple[int, ReplayOutcome]] = []
    queues: list[asyncio.Queue[tuple[int, RunHistory] | None]] = [
        asyncio.Queue() for _ in range(max(1, replayers))
    ]

    def done(index: int, outcome: ReplayOutcome) -> None:
        outcomes.append((index, outcome))
        if progress is not None:
            progress(len(outcomes))

    async def deal() -> None:
        index = 0
        try:
            async for run in _each(runs):
                if run.history.workflow_id in erased:
                    workflow_id = run.history.workflow_id
                    done(index, ReplayOutcome(workflow_id, run.run_id, run.source, erased=True))
                else:
                    await queues[index % len(queues)].put((index, run))
                index += 1
        finally:
            for queue in queues:
                await queue.put(None)

    async def replay_from(queue: asyncio.Queue[tuple[int, RunHistory] | None]) -> None:
        by_history: dict[int, tuple[int, RunHistory]] = {}

        async def histories() -> AsyncIterator[WorkflowHistory]:
            while (item := await queue.get()) is not None:
                by_history[id(item[1].history)] = item
                yield item[1].history

        replayer = Replayer(workflows=workflows, data_converter=history_converter(ring, keys))
        async with replayer.workflow_replay_iterator(histories()) as results:
            async for result in results:
                index, run = by_history.pop(id(result.history))
                failure = result.replay_failure
                error = f"{type(failure).__name__}: {failure}" if failure else ""
                done(index, ReplayOutcome(run.history.workflow_id, run.run_id, run.source, error))

    await asyncio.gather(deal(), *(replay_from(queue) for queue in queues))
    return [outcome for _, outcome in sorted(outcomes, key=lambda pair: pair[0])]


async def _each(
    runs: Iterable[RunHistory] | AsyncIterable[RunHistory],
) -> AsyncIterator[RunHistory]:
    if isinstance(runs, AsyncIterable):
        async for run in runs:
            yield run
    else:
        for run in runs:
            yield run


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
