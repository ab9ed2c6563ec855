"""A deploy or a restart loses no answer: on SIGTERM the site finishes the requests in flight
and the worker the activities in flight, each within its bounded time, and then exits. Real
processes: the site as ``dev.py run`` serves it, ``python worker.py``."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

import dev
from devstack.servers import MailServer, free_port
from settings import Settings
from tests.conftest import NewWorker, until
from tests.journeys import begin, create_account, journey_handle, new_address, new_username, sign_up
from tests.process_helpers import site_environment, started, worker_environment
from tests.web_helpers import Page

# Longer than any test here waits: what stops a process is its graceful bound, not these.
BOUND_MARGIN = 15


class SlowServer(MailServer):
    """Takes ``delay`` seconds before its 250, as a busy mail server may."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.receiving = threading.Event()
        self.accepted = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.receiving.set()
        await asyncio.sleep(self.delay)
        self.accepted += 1
        return "250 OK"


@asynccontextmanager
async def site_process(
    client: Client, settings: Settings, log: Path, **env: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {**site_environment(client, settings, url), **env}
    async with started(dev.web_command(port), environment, log, b"startup complete") as process:
        yield process, url


async def stopped_cleanly(site: asyncio.subprocess.Process, log: Path, bound: float) -> None:
    """uvicorn, its shutdown done (the app's lifespan too), ends by the signal it was sent."""
    assert await asyncio.wait_for(site.wait(), bound) == -signal.SIGTERM
    assert b"Finished server process" in log.read_bytes()


async def sign_up_in_flight(
    http: httpx2.AsyncClient, client: Client, settings: Settings
) -> asyncio.Task[httpx2.Response]:
    """The Sign Up button pressed with no worker to answer yet: the request waits on the
    journey's first update."""
    page = Page(await http.get("/en/gckey/sign-in"))
    action, fields = page.form("sign-up")
    pressed = asyncio.create_task(http.post(action, data=fields))

    async def journey_started() -> bool:
        query = f"TaskQueue = '{settings.task_queue}'"
        return [w async for w in client.list_workflows(query)] != []

    await until(journey_started, what="the sign-up's journey to start")
    return pressed


async def test_the_site_finishes_a_request_in_flight_on_sigterm(
    client: Client, settings: Settings, new_worker: NewWorker, tmp_path: Path
) -> None:
    log = tmp_path / "web.log"
    async with site_process(
        client, settings, log, WEB_GRACEFUL_SHUTDOWN_SECONDS="20", TEMPORAL_RPC_TIMEOUT_SECONDS="30"
    ) as (site, url):
        async with httpx2.AsyncClient(base_url=url, timeout=60) as http:
            pressed = await sign_up_in_flight(http, client, settings)
            site.send_signal(signal.SIGTERM)
            await until(lambda: b"Shutting down" in log.read_bytes(), what="the site to stop")
            async with new_worker(client, settings):  # the answer comes now, after SIGTERM
                answer = await pressed
            assert answer.status_code == 303
            assert answer.headers["location"] == f"{url}/en/gckey/terms"
            await stopped_cleanly(site, log, 20 + BOUND_MARGIN)


async def test_the_site_stops_within_its_bound_when_a_request_never_ends(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "web.log"
    async with site_process(
        client, settings, log, WEB_GRACEFUL_SHUTDOWN_SECONDS="2", TEMPORAL_RPC_TIMEOUT_SECONDS="300"
    ) as (site, url):
        async with httpx2.AsyncClient(base_url=url, timeout=60) as http:
            pressed = await sign_up_in_flight(http, client, settings)  # no worker, ever
            site.send_signal(signal.SIGTERM)
            await stopped_cleanly(site, log, 2 + BOUND_MARGIN)
            with pytest.raises(httpx2.HTTPError):  # closed unanswered: the press can be repeated
                await pressed
    assert b"timeout graceful shutdown exceeded" in log.read_bytes()


async def e_mail_in_flight(client: Client, settings: Settings, server: SlowServer) -> str:
    workflow_id = await begin(client, settings)
    await sign_up(client, workflow_id, new_username())
    await create_account(journey_handle(client, workflow_id), new_address())
    await until(server.receiving.is_set, what="the mail server to be receiving the e-mail")
    return workflow_id


async def test_the_worker_finishes_an_e_mail_in_flight_on_sigterm(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    server = SlowServer(delay=3)
    settings = settings.model_copy(update={"smtp_port": server.port})
    env = {**worker_environment(client, settings), "WORKER_GRACEFUL_SHUTDOWN_SECONDS": "20"}
    with server.serving():
        command = (sys.executable, "worker.py")
        async with started(command, env, tmp_path / "worker.log", b"worker polling") as worker:
            workflow_id = await e_mail_in_flight(client, settings, server)
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(worker.wait(), 20 + BOUND_MARGIN) == 0
    # No other worker ever ran: the stopping one completed the e-mail, at its first attempt.
    handle = journey_handle(client, workflow_id)
    events = (await handle.fetch_history()).events
    kinds = [e.event_type for e in events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in kinds
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED not in kinds
    (began,) = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert began.activity_task_started_event_attributes.attempt == 1
    assert server.accepted == 1
    await handle.terminate("test finished")


async def test_the_worker_stops_within_its_bound_when_an_activity_never_ends(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    server = SlowServer(delay=300)
    settings = settings.model_copy(update={"smtp_port": server.port})
    env = {**worker_environment(client, settings), "WORKER_GRACEFUL_SHUTDOWN_SECONDS": "2"}
    with server.serving():
        command = (sys.executable, "worker.py")
        async with started(command, env, tmp_path / "worker.log", b"worker polling") as worker:
            workflow_id = await e_mail_in_flight(client, settings, server)
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(worker.wait(), 2 + BOUND_MARGIN) == 0
        await journey_handle(client, workflow_id).terminate("test finished")
