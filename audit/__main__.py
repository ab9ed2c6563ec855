"""The replay command, run before deploying a workflow change:

    python -m audit replay --workflow-id ID [ID ...]
    python -m audit replay --closed-after 2026-11-01T00:00Z --closed-before 2026-12-01T00:00Z
    python -m audit replay --from-archive [--workflow-id ID ... | --closed-after ...]
    python -m audit replay --history-file tests/histories/*.json
    python -m audit cut-over [--check]

Replay prints one line per run, PASS or FAIL with the replayer's exact message; exits 1 if any
fail. Cut-over moves the journeys still on a plain history onto an encrypted one (audit/
cutover.py). Temporal and the database come from the same settings as the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine
from temporalio.client import Client

from activities.archive import closed_window_query
from audit.cutover import cut_over
from audit.replay import read_files, replay
from audit.sources import RunHistory, Source, from_json, read_journey, read_run
from db.engine import make_engine
from db.queries import archived_closed_between, archived_runs
from settings import Settings, get_settings
from worker import connect


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
    c = commands.add_parser("cut-over", help="move running journeys onto encrypted history")
    c.add_argument("--check", action="store_true", help="only say what is still plain")
    return p


async def histories(
    args: argparse.Namespace, client: Client | None, engine: Engine
) -> list[RunHistory]:
    """The runs the arguments name, oldest first within a journey."""
    if args.history_file:
        return read_files(args.history_file)
    window = args.closed_after is not None or args.closed_before is not None
    if args.from_archive:
        rows = []
        for workflow_id in args.workflow_id:
            rows += await asyncio.to_thread(archived_runs, engine, workflow_id)
        if window or not args.workflow_id:
            rows += await asyncio.to_thread(
                archived_closed_between, engine, args.closed_after, args.closed_before
            )
        return [from_json(r.workflow_id, r.history_json, Source.ARCHIVE) for r in rows]
    assert client is not None
    runs = []
    for workflow_id in args.workflow_id:
        runs += (await read_journey(client, engine, workflow_id)).runs
    if window:
        query = closed_window_query(args.closed_after, args.closed_before)
        async for execution in client.list_workflows(query):
            runs.append(await read_run(client, engine, execution.id, execution.run_id))
    return runs


def needs_temporal(args: argparse.Namespace) -> bool:
    return not (args.history_file or args.from_archive)


async def replay_command(
    argv: Sequence[str], client: Client | None, settings: Settings, out: TextIO = sys.stdout
) -> int:
    """Runs the command; ``client`` may be None when the arguments need no Temporal."""
    args = parser().parse_args(argv)
    if args.command == "cut-over":
        client = client or await connect(settings)
        operator = getpass.getuser()
        return await cut_over(client, settings.task_queue, out, check=args.check, operator=operator)
    window = args.closed_after is not None or args.closed_before is not None
    if not (args.workflow_id or args.history_file or args.from_archive or window):
        parser().error(
            "name the histories: --workflow-id, a closed window, --from-archive or files"
        )
    if needs_temporal(args) and client is None:
        client = await connect(settings)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        outcomes = await replay(await histories(args, client, engine), settings.payload_ring)
    finally:
        engine.dispose()
    for outcome in outcomes:
        out.write(outcome.line() + "\n")
    failed = sum(not o.passed for o in outcomes)
    out.write(f"{len(outcomes) - failed} passed, {failed} failed\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(replay_command(sys.argv[1:], None, get_settings())))
