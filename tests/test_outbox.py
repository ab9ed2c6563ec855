"""E-mail at most once per message: an attempt that sent and then died before its completion
reached Temporal leaves its Message-ID in the outbox, and the retry sends nothing."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import Session as DbSession
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.email import SmtpSender
from activities.notify import NotificationActivities
from activities.outbox import Outbox
from benchmarks.chaos import sent_by_a_retry
from db.engine import make_engine
from db.models import MailOutbox
from devstack.faults import relay_to
from devstack.servers import HOST, MailServer
from settings import Settings
from tests.conftest import NewWorker, until
from tests.journeys import begin, create_account, journey_handle, new_address, new_username, sign_up
from tests.process_helpers import started, worker_environment
from workflows.activity_types import SendConfirmationEmailInput
from workflows.types import ONBOARDING_ID_PREFIX, EmailKind


class CountingServer(MailServer):
    """Counts what it accepts, per recipient; ``before_yes`` runs just before its 250."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[str] = []
        self.before_yes: Callable[[Envelope], None] = lambda envelope: None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.accepted.extend(envelope.rcpt_tos)
        self.before_yes(envelope)
        return "250 OK"

    def count(self, address: str) -> int:
        return self.accepted.count(address)


def notifications(settings: Settings, port: int) -> NotificationActivities:
    return NotificationActivities(
        SmtpSender(HOST, port),
        outbox=Outbox(make_engine(settings.sqlalchemy_url)),
        secret_key=settings.secret_key.get_secret_value(),
        public_url=settings.public_url,
        mail_from=settings.mail_from,
    )


async def test_a_retry_after_an_accepted_send_sends_nothing(settings: Settings) -> None:
    server = CountingServer()
    address = new_address()
    confirmation = SendConfirmationEmailInput(
        journey_id="4b1f0d4c-8d0e-4f4e-9a55-3b8f0a1c2d3e",
        kind=EmailKind.CONFIRMATION,
        link_number=1,
        to=address,
        given_name="Marie",
        language="fr",
        urn="123456789",
        expires_at=datetime.now(UTC) + timedelta(days=3),
    )
    activities = notifications(settings, server.port)
    env = ActivityEnvironment()
    with server.serving():
        first = await env.run(activities.send_confirmation_email, confirmation)
        # Its completion never reached Temporal: the same input again, as attempt 2.
        env.info = replace(env.info, attempt=2)
        retry = await env.run(activities.send_confirmation_email, confirmation)
        assert server.count(address) == 1
        assert retry.message_id == first.message_id
        # Another message (the reminder of that link) is another Message-ID: it goes.
        await env.run(
            activities.send_confirmation_email, replace(confirmation, kind=EmailKind.REMINDER)
        )
        assert server.count(address) == 2


async def test_the_message_is_in_the_outbox_before_the_connection_is_closed(
    settings: Settings,
) -> None:
    """The row is written on the server's 250, not after the QUIT: a worker killed while it
    waits for the QUIT's answer has left the row, and the retry sends nothing."""
    server = CountingServer()
    engine = make_engine(settings.sqlalchemy_url)
    at_quit: list[bool] = []

    async def handle_QUIT(server: SMTP, session: Session, envelope: Envelope) -> str:
        with DbSession(engine) as db:
            at_quit.append(db.get(MailOutbox, message_id) is not None)
        return "221 Bye"

    server.handle_QUIT = handle_QUIT  # type: ignore[attr-defined]
    confirmation = SendConfirmationEmailInput(
        journey_id=str(uuid.uuid4()),
        kind=EmailKind.CONFIRMATION,
        link_number=1,
        to=new_address(),
        given_name="Marie",
        language="fr",
        urn="123456789",
        expires_at=datetime.now(UTC) + timedelta(days=3),
    )
    activities = notifications(settings, server.port)
    message_id = str(activities.compose(confirmation)["Message-ID"])
    with server.serving():
        await ActivityEnvironment().run(activities.send_confirmation_email, confirmation)
    assert at_quit == [True]


async def test_an_e_mail_whose_completion_was_lost_is_not_sent_again(
    client: Client, settings: Settings, new_worker: NewWorker, tmp_path: Path
) -> None:
    """The way the issue found it: the mail server said 250, and Temporal was gone before the
    activity's completion reached it (here the worker's line to Temporal is cut at that moment,
    then the worker dies). The attempt times out, and its retry, on another worker, finds the
    message in the outbox."""
    server = CountingServer()
    settings = settings.model_copy(update={"smtp_port": server.port})
    address = new_address()
    loop = asyncio.get_running_loop()
    engine = make_engine(settings.sqlalchemy_url)

    def recorded() -> bool:
        with DbSession(engine) as session:
            return session.exec(select(MailOutbox)).first() is not None

    with server.serving():
        async with relay_to(client.service_client.config.target_host) as line:

            async def cut_now() -> None:
                line.cut()

            def cut(envelope: Envelope) -> None:
                if address in envelope.rcpt_tos:  # the mail server's own loop, another thread
                    asyncio.run_coroutine_threadsafe(cut_now(), loop).result(timeout=10)

            server.before_yes = cut
            env = {**worker_environment(client, settings), "TEMPORAL_ADDRESS": line.address}
            log = tmp_path / "worker.log"
            command = (sys.executable, "worker.py")
            async with started(command, env, log, b"worker polling") as worker:
                workflow_id = await begin(client, settings)
                await sign_up(client, workflow_id, new_username())
                handle = journey_handle(client, workflow_id)
                await create_account(handle, address)
                await until(recorded, what="the accepted message in the outbox")
                worker.send_signal(signal.SIGKILL)
                await worker.wait()
        assert server.count(address) == 1

        async with new_worker(client, settings):

            async def completed() -> bool:
                events = (await handle.fetch_history()).events
                done = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                return any(e.event_type == done for e in events)

            # The lost attempt's start-to-close timeout (30 s) runs out first.
            await until(completed, what="the retry to complete", timeout=90)
        events = (await handle.fetch_history()).events
        (started_event,) = [
            e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]
        assert started_event.activity_task_started_event_attributes.attempt == 2
        assert server.count(address) == 1
        # The chaos benchmark reads such a journey's history the same way: had this retry sent
        # the message again, it would count it as resent, not as an e-mail nobody asked for.
        journey = workflow_id.removeprefix(ONBOARDING_ID_PREFIX)
        assert await sent_by_a_retry(client, f"<{journey}.1.confirmation@cers.example.ca>")
        assert not await sent_by_a_retry(client, f"<{journey}.lock.1@cers.example.ca>")
        await handle.terminate("test finished")
