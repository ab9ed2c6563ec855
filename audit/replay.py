"""Replays histories with today's workflow code: a change that running or archived journeys
could not survive is reported with the exact non-determinism, before it is deployed."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from audit.sources import RunHistory, Source, from_json
from core.crypto import DataKeyStore, KeyRing
from core.temporal import history_converter
from db.datakeys import DataKeys
from db.engine import make_engine
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
    processes: int = 1,
) -> list[ReplayOutcome]:
    """Every run replayed with ``workflows`` (today's code unless a test says otherwise), the
    outcomes in the order the runs came. The ring and each journey's data key (``keys``)
    decrypt what Temporal or the archive holds; plain histories, recorded before encryption
    or exported from a journey's page, replay as they are. A run of a workflow in ``erased``
    is reported as erased, not replayed: its payloads cannot be read by anyone any more.
    ``runs`` may still be arriving (an async iterable): replay starts on the first while the
    rest are fetched. ``replayers`` run side by side, the runs dealt out between them: one
    replayer waits on the SDK's core between histories, and others use that time. With
    ``processes`` above 1 (and the data keys in a database each process can open), the runs
    are replayed in that many processes of their own instead, in batches, so every core
    works: the sandbox runs the workflow's module afresh for each run, CPU that one process's
    replayers can only take in turn."""
    url = shared_database(keys)
    if processes > 1 and url is not None:
        return await _replay_in_processes(
            runs, ring, workflows, url, erased=erased, progress=progress, processes=processes
        )
    outcomes: list[tuple[int, ReplayOutcome]] = []
    queues: list[asyncio.Queue[tuple[int, RunHistory] | None]] = [
        asyncio.Queue() for _ in range(max(1, replayers))
    ]

    def done(index: int, outcome: ReplayOutcome) -> None:
        outcomes.append((index, outcome))
        if progress is not None:
            progress(len(outcomes))

    async def deal() -> None:
        try:
            async for index, run in _to_replay(runs, erased, done):
                await queues[index % len(queues)].put((index, run))
        finally:
            for queue in queues:
                await queue.put(None)

    async def replay_from(queue: asyncio.Queue[tuple[int, RunHistory] | None]) -> None:
        async def dealt() -> AsyncIterator[tuple[int, RunHistory]]:
            while (item := await queue.get()) is not None:
                yield item

        replayer = Replayer(workflows=workflows, data_converter=history_converter(ring, keys))
        async for index, outcome in _replayed(replayer, dealt()):
            done(index, outcome)

    await asyncio.gather(deal(), *(replay_from(queue) for queue in queues))
    return [outcome for _, outcome in sorted(outcomes, key=lambda pair: pair[0])]


async def _to_replay(
    runs: Iterable[RunHistory] | AsyncIterable[RunHistory],
    erased: Collection[str],
    done: Callable[[int, ReplayOutcome], None],
) -> AsyncIterator[tuple[int, RunHistory]]:
    """The runs, numbered in the order they came; an erased one is told ``done`` at once
    instead, as nothing of it can be read to replay."""
    index = 0
    async for run in _each(runs):
        if run.history.workflow_id in erased:
            workflow_id = run.history.workflow_id
            done(index, ReplayOutcome(workflow_id, run.run_id, run.source, erased=True))
        else:
            yield index, run
        index += 1


async def _replayed(
    replayer: Replayer, runs: AsyncIterator[tuple[int, RunHistory]]
) -> AsyncIterator[tuple[int, ReplayOutcome]]:
    """Each numbered run's outcome, as ``replayer`` finishes it."""
    by_history: dict[int, tuple[int, RunHistory]] = {}

    async def histories() -> AsyncIterator[WorkflowHistory]:
        async for item in runs:
            by_history[id(item[1].history)] = item
            yield item[1].history

    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            index, run = by_history.pop(id(result.history))
            failure = result.replay_failure
            error = f"{type(failure).__name__}: {failure}" if failure else ""
            yield index, ReplayOutcome(run.history.workflow_id, run.run_id, run.source, error)


BATCH = 20  # runs a replay process is sent at a time


def shared_database(keys: DataKeyStore | None) -> str | None:
    """The database URL another process can read the same data keys from, if there is one
    (no keys: the ring alone, which every process has)."""
    if keys is None:
        return ""
    if isinstance(keys, DataKeys) and keys.engine.url.database not in (None, "", ":memory:"):
        return keys.engine.url.render_as_string(hide_password=False)
    return None


async def _replay_in_processes(
    runs: Iterable[RunHistory] | AsyncIterable[RunHistory],
    ring: KeyRing,
    workflows: Sequence[type],
    url: str,
    *,
    erased: Collection[str],
    progress: Progress | None,
    processes: int,
) -> list[ReplayOutcome]:
    outcomes: list[tuple[int, ReplayOutcome]] = []
    loop = asyncio.get_running_loop()
    names = [f"{w.__module__}:{w.__qualname__}" for w in workflows]
    context = multiprocessing.get_context("spawn")  # never fork a process running the SDK core
    in_flight: set[asyncio.Future[list[tuple[int, ReplayOutcome]]]] = set()

    def done(index: int, outcome: ReplayOutcome) -> None:
        outcomes.append((index, outcome))
        if progress is not None:
            progress(len(outcomes))

    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_start, initargs=(ring.text(), url, names)
    ) as pool:

        async def send(batch: list[tuple[int, RunHistory]]) -> None:
            items = [
                (i, run.history.workflow_id, run.run_id, run.source, _history_bytes(run.history))
                for i, run in batch
            ]
            in_flight.add(asyncio.wrap_future(pool.submit(_replay_batch, items), loop=loop))
            while len(in_flight) >= 2 * processes:  # a few batches ahead, not the whole window
                finished, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    in_flight.discard(future)
                    for index, outcome in future.result():
                        done(index, outcome)

        batch: list[tuple[int, RunHistory]] = []
        async for numbered in _to_replay(runs, erased, done):
            batch.append(numbered)
            if len(batch) == BATCH:
                await send(batch)
                batch = []
        if batch:
            await send(batch)
        for future in asyncio.as_completed(in_flight):
            for index, outcome in await future:
                done(index, outcome)
    return [outcome for _, outcome in sorted(outcomes, key=lambda pair: pair[0])]


def _history_bytes(history: WorkflowHistory) -> bytes:
    return History(events=history.events).SerializeToString()


# A replay process's own: made once when it starts, used for every batch it is sent.
_replayer: Replayer | None = None
_loop: asyncio.AbstractEventLoop | None = None


def _start(ring_text: str, url: str, names: list[str]) -> None:
    global _replayer, _loop
    ring = KeyRing.parse(ring_text)
    keys = DataKeys(make_engine(url), ring) if url else None
    workflows = []
    for name in names:
        module, _, qualname = name.partition(":")
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
        workflows.append(found)
    _replayer = Replayer(workflows=workflows, data_converter=history_converter(ring, keys))
    _loop = asyncio.new_event_loop()


def _replay_batch(
    items: list[tuple[int, str, str, Source, bytes]],
) -> list[tuple[int, ReplayOutcome]]:
    assert _replayer is not None and _loop is not None
    replayer = _replayer

    async def runs() -> AsyncIterator[tuple[int, RunHistory]]:
        for index, workflow_id, run_id, source, data in items:
            history = WorkflowHistory(workflow_id, History.FromString(data).events)
            yield index, RunHistory(history, run_id, source)

    async def replayed() -> list[tuple[int, ReplayOutcome]]:
        return [pair async for pair in _replayed(replayer, runs())]

    return _loop.run_until_complete(replayed())


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
