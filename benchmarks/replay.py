"""How long ``python -m audit replay`` takes over many finished journeys, four ways in the
same run: in processes of their own with replayers side by side (the default), the same in
one process, fetching concurrently into one replayer, and one at a time with one replayer
(as before).

    python -m benchmarks.replay [--journeys 1000] [--fetch-at-once 16] [--replayers 4]
        [--processes N]

Starts the local stack of devstack/ (the dev server, SQLite, a worker), seeds N finished
journeys cheaply (the login choice by update-with-start, then the terms declined: the journey
ends there, with a real encrypted history under its own data key), waits for visibility to
list them all, then runs the replay command over the window they closed in, four times. Prints
the seconds and histories/s of each, and the ratio. The replay command's own progress line
goes to stderr while it works.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TextIO

from temporalio.client import Client, WorkflowHandle

from audit.__main__ import FETCHING, PROCESSES, REPLAYERS, replay_command
from devstack.stack import local_stack
from settings import Settings
from web.journeys import Journeys
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    ONBOARDING_ID_PREFIX,
    AnswerTermsInput,
    LoginMethod,
    OnboardingResult,
)

log = logging.getLogger("benchmarks.replay")
SEEDING = 16  # journeys seeded at once


async def seed(client: Client, settings: Settings, n: int) -> list[str]:
    """N journeys that declined the terms, so closed; their workflow ids."""
    journeys = Journeys(client, settings)
    gate = asyncio.Semaphore(SEEDING)

    async def one() -> str:
        workflow_id = f"{ONBOARDING_ID_PREFIX}{uuid.uuid4()}"
        async with gate:
            await journeys.begin(workflow_id, LoginMethod.GCKEY, "en")
            # Declared: mypy cannot always solve get_workflow_handle_for alone (worker.py).
            handle: WorkflowHandle[OnboardingWorkflow, OnboardingResult] = (
                client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)
            )
            await handle.execute_update(
                OnboardingWorkflow.answer_terms, AnswerTermsInput(False, settings.terms_version)
            )
            await handle.result()
        return workflow_id

    return list(await asyncio.gather(*(one() for _ in range(n))))


def window_args(since: datetime) -> list[str]:
    until = datetime.now(UTC) + timedelta(minutes=1)
    return ["--closed-after", since.isoformat(), "--closed-before", until.isoformat()]


async def listed(client: Client, since: datetime, n: int) -> None:
    """Visibility lags history a little: wait until it lists every seeded journey."""
    query = (
        "WorkflowType = 'OnboardingWorkflow' AND ExecutionStatus != 'Running' "
        f"AND CloseTime >= '{since.isoformat().replace('+00:00', 'Z')}'"
    )
    for _ in range(600):
        if (await client.count_workflows(query)).count >= n:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"visibility never listed the {n} journeys")


async def timed_replay(
    client: Client,
    settings: Settings,
    since: datetime,
    at_once: int,
    replayers: int,
    processes: int,
    progress: TextIO,
) -> tuple[float, list[str], int]:
    """Seconds, the report's lines and the exit code of one replay over the window."""
    out = io.StringIO()
    start = time.perf_counter()
    argv = ["replay", *window_args(since), "--task-queue", settings.task_queue]
    argv += ["--fetch-at-once", str(at_once), "--replayers", str(replayers)]
    argv += ["--processes", str(processes)]
    code = await replay_command(argv, client, settings, out, progress)
    return time.perf_counter() - start, out.getvalue().splitlines(), code


async def main(n: int, at_once: int, replayers: int, processes: int) -> None:
    async with local_stack() as stack:
        since = datetime.now(UTC) - timedelta(seconds=1)
        start = time.perf_counter()
        await seed(stack.client, stack.settings, n)
        await listed(stack.client, since, n)
        seeded = time.perf_counter() - start
        rows = []
        ways = (
            ("processes", at_once, replayers, processes),
            ("concurrent", at_once, replayers, 1),
            ("fetch only", at_once, 1, 1),
            ("one at a time", 1, 1, 1),
        )
        for label, fetching, side_by_side, in_processes in ways:
            seconds, lines, code = await timed_replay(
                stack.client,
                stack.settings,
                since,
                fetching,
                side_by_side,
                in_processes,
                sys.stderr,
            )
            rows.append((label, fetching, side_by_side, in_processes, seconds, lines[-1], code))
    lines = [f"seeded {n} finished journeys in {seeded:.1f} s"]
    lines.append(
        f"{'replay':<14} {'fetch':>5} {'replayers':>9} {'processes':>9} {'seconds':>8} "
        f"{'per s':>6}  report"
    )
    for label, fetching, side_by_side, in_processes, seconds, last, code in rows:
        lines.append(
            f"{label:<14} {fetching:>5} {side_by_side:>9} {in_processes:>9} {seconds:>8.1f} "
            f"{n / seconds:>6.1f}"
            f"  {last} (exit {code})"
        )
    lines.append(f"one at a time / processes: {rows[-1][4] / rows[0][4]:.2f}x")
    log.info("\n%s", "\n".join(lines))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--journeys", type=int, default=1000)
    parser.add_argument("--fetch-at-once", type=int, default=FETCHING)
    parser.add_argument("--replayers", type=int, default=REPLAYERS)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    arguments = parser.parse_args()
    asyncio.run(
        main(arguments.journeys, arguments.fetch_at_once, arguments.replayers, arguments.processes)
    )
