"""The replay command, run before deploying a workflow change:

    python -m audit replay --workflow-id ID [ID ...]
    python -m audit replay --closed-after 2026-11-01T00:00Z --closed-before 2026-12-01T00:00Z
    python -m audit replay --from-archive [--workflow-id ID ... | --closed-after ...]
    python -m audit replay --history-file tests/histories/*.json
    python -m audit cut-over [--check]

Replay prints one line per run, PASS or FAIL with the replayer's exact message (ERASED for a
journey whose personal information was erased: nothing of it can be read to replay); exits 1
if any fail. While it works, a progress line on stderr; histories are fetched from Temporal
``FETCHING`` at a time while the replayer works through those already read. Cut-over moves
the journeys still on a plain history onto an encrypted one (audit/cutover.py). Temporal
and the database come from the same settings as the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine
from temporalio.client import Client

from activities.archive import closed_window_query
from audit.cutover import cut_over
from audit.replay import read_files, replay
from audit.sources import RunHistory, Source, from_json, read_journey, read_run
from core.temporal import reader_of
from db.datakeys import DataKeys, erased_among
from db.engine import make_engine
from db.queries import archived_closed_between, archived_runs
from settings import Settings, get_settings
from worker import connect

FETCHING = 16  # histories fetched from Temporal at once: enough to keep the replayers busy
REPLAYERS = 4  # side by side: on 2 cores, 1.5-1.6x one replayer's pace (benchmarks/replay.py)
# Processes that replay, each on a core of its own, when there are many runs to replay.
PROCESSES = min(4, os.cpu_count() or 1)


def moment(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m audit", description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True)
    r = commands.add_parser("replay", help="replay journey histories with today's workflow code")
    r.add_argument("--workflow-id", nargs="+", default=[], metavar="ID")
    r.add_argument("--closed-after", type=moment, metavar="ISO")
    r.add_argument("--closed-before", type=moment, metavar="ISO")
    r.add_argument("--from-archive", action="store_true", help="read the archive, not Temporal")
    r.add_argument("--history-file", nargs="+", default=[], type=Path, metavar="PATH")
    r.add_argument(
        "--replayers",
        type=int,
        default=REPLAYERS,
        metavar="N",
        help=f"replayers side by side (default {REPLAYERS})",
    )
    r.add_argument(
        "--processes",
        type=int,
        default=PROCESSES,
        metavar="N",
        help=f"replay in N processes of their own, in batches (default {PROCESSES}: the cores)",
    )
    r.add_argument(
        "--task-queue", default="", metavar="QUEUE", help="only journeys of this task queue"
    )
    r.add_argument(
        "--fetch-at-once",
        type=int,
        default=FETCHING,
        metavar="N",
        help=f"histories fetched from Temporal at once (default {FETCHING})",
    )
    c = commands.add_parser("cut-over", help="move running journeys onto encrypted history")
    c.add_argument("--check", action="store_true", help="only say what is still plain")
    return p


class ProgressLine:
    """How far the replay has got, on stderr while it works: rewritten in place on a
    terminal, a line every few seconds elsewhere (a CI log). The report on stdout is as it
    always was."""

    def __init__(self, total: int, out: TextIO, every: float = 0.25) -> None:
        self.total = total
        self.out = out
        self.fetched = 0
        self.replayed = 0
        self.live = out.isatty()
        self.every = every if self.live else 5.0
        self.last = 0.0

    def fetch(self) -> None:
        self.fetched += 1
        self.show()

    def replay(self, replayed: int) -> None:
        self.replayed = replayed
        self.show()

    def text(self) -> str:
        return f"replayed {self.replayed}/{self.total} (fetched {self.fetched})"

    def show(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.every:
            return
        self.last = now
        self.out.write("\r" + self.text() if self.live else self.text() + "\n")
        if final and self.live:
            self.out.write("\n")
        self.out.flush()


async def bounded(
    calls: Sequence[Callable[[], Awaitable[list[RunHistory]]]], progress: ProgressLine, at_once: int
) -> AsyncIterator[RunHistory]:
    """Each call's runs as soon as they are read, ``at_once`` calls at a time."""
    gate = asyncio.Semaphore(max(1, at_once))

    async def one(call: Callable[[], Awaitable[list[RunHistory]]]) -> list[RunHistory]:
        async with gate:
            runs = await call()
        progress.fetch()
        return runs

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        for done in asyncio.as_completed(tasks):
            for run in await done:
                yield run
    finally:
        for task in tasks:
            task.cancel()


async def histories(
    args: argparse.Namespace, client: Client | None, engine: Engine, progress: TextIO
) -> tuple[list[str], ProgressLine, AsyncIterator[RunHistory] | list[RunHistory]]:
    """The workflows the arguments name, the progress line, and their runs (oldest first
    within a journey when read whole): read while they are replayed, when from Temporal."""
    if args.history_file:
        runs = read_files(args.history_file)
        return [r.history.workflow_id for r in runs], ProgressLine(len(runs), progress), runs
    window = args.closed_after is not None or args.closed_before is not None
    if args.from_archive:
        rows = []
        for workflow_id in args.workflow_id:
            rows += await asyncio.to_thread(archived_runs, engine, workflow_id)
        if window or not args.workflow_id:
            rows += await asyncio.to_thread(
                archived_closed_between, engine, args.closed_after, args.closed_before
            )
        runs = [from_json(r.workflow_id, r.history_json, Source.ARCHIVE) for r in rows]
        return [r.workflow_id for r in rows], ProgressLine(len(runs), progress), runs
    assert client is not None
    temporal = client
    calls: list[Callable[[], Awaitable[list[RunHistory]]]] = []
    ids = list(args.workflow_id)
    for workflow_id in args.workflow_id:

        async def whole(workflow_id: str = workflow_id) -> list[RunHistory]:
            return (await read_journey(temporal, engine, workflow_id)).runs

        calls.append(whole)
    if window:
        query = closed_window_query(args.closed_after, args.closed_before, args.task_queue)
        async for execution in client.list_workflows(query):
            ids.append(execution.id)

            async def one(
                workflow_id: str = execution.id, run_id: str = execution.run_id
            ) -> list[RunHistory]:
                return [await read_run(temporal, engine, workflow_id, run_id)]

            calls.append(one)
    line = ProgressLine(len(calls), progress)
    return ids, line, bounded(calls, line, args.fetch_at_once)


def needs_temporal(args: argparse.Namespace) -> bool:
    return not (args.history_file or args.from_archive)


async def replay_command(
    argv: Sequence[str],
    client: Client | None,
    settings: Settings,
    out: TextIO = sys.stdout,
    progress: TextIO = sys.stderr,
) -> int:
    """Runs the command; ``client`` may be None when the arguments need no Temporal."""
    args = parser().parse_args(argv)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        if args.command == "cut-over":
            client = client or await connect(settings, engine)
            operator = getpass.getuser()
            return await cut_over(
                client, settings.task_queue, out, check=args.check, operator=operator
            )
        window = args.closed_after is not None or args.closed_before is not None
        if not (args.workflow_id or args.history_file or args.from_archive or window):
            parser().error(
                "name the histories: --workflow-id, a closed window, --from-archive or files"
            )
        if needs_temporal(args) and client is None:
            client = await connect(settings, engine)
        keys = (
            reader_of(client.data_converter, settings.payload_ring).keys
            if client is not None
            else DataKeys(engine, settings.payload_ring)
        )
        ids, line, runs = await histories(args, client, engine, progress)
        erased = await asyncio.to_thread(erased_among, engine, set(ids))
        outcomes = await replay(
            runs,
            settings.payload_ring,
            keys=keys,
            erased=erased,
            progress=line.replay,
            replayers=args.replayers,
            processes=args.processes,
        )
        line.show(final=True)
    finally:
        engine.dispose()
    for outcome in outcomes:
        out.write(outcome.line() + "\n")
    failed = sum(not o.passed for o in outcomes)
    gone = sum(o.erased for o in outcomes)
    out.write(f"{len(outcomes) - failed - gone} passed, {failed} failed")
    out.write(f", {gone} erased\n" if gone else "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(replay_command(sys.argv[1:], None, get_settings())))
