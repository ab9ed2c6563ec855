"""The one place that wires concrete things together: database, SMTP, Temporal worker."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    WorkflowHandle,
)
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.accounts import AccountActivities
from activities.archive import ArchiveActivities
from activities.email import EmailSender, SmtpSender
from activities.faults import quiet_expected_faults
from activities.notify import NotificationActivities
from activities.outbox import Outbox
from activities.reset import PasswordResetActivities
from core.temporal import data_converter, history_converter, reader_of
from db.datakeys import DataKeys
from db.engine import make_engine, migrate
from observe.logs import configure_logging
from observe.metrics import CountedSender, temporal_runtime
from observe.tracing import provider_for, temporal_interceptors
from observe.worker_http import worker_probes
from settings import Settings, get_settings
from workflows import search
from workflows.archive import ArchiveWorkflow
from workflows.archive_types import archive_schedule_id
from workflows.onboarding import OnboardingWorkflow
from workflows.registry import WORKFLOWS
from workflows.types import BEFORE_A_CREDENTIAL, OnboardingResult, WatchForAbandonmentInput

log = logging.getLogger("cers.worker")


def smtp_sender(settings: Settings) -> SmtpSender:
    return SmtpSender(
        settings.smtp_host or "127.0.0.1",
        settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value(),
        starttls=settings.smtp_starttls,
    )


@asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, *, sender: EmailSender | None = None
) -> AsyncIterator[Worker]:
    """A worker polling the settings' task queue until the block ends; then its database
    connections are closed too."""
    engine = make_engine(settings.sqlalchemy_url)
    try:
        async with build_worker(client, settings, engine, sender or smtp_sender(settings)) as w:
            yield w
    finally:
        engine.dispose()


def archive_reader(client: Client, settings: Settings) -> DataConverter:
    """The archive reads closed histories with the client's keys; a client made without our
    codec (a test's plain worker) reads with the ring alone."""
    codec = reader_of(client.data_converter, settings.payload_ring)
    return history_converter(codec.ring, codec.keys)


def build_worker(client: Client, settings: Settings, engine: Engine, sender: EmailSender) -> Worker:
    sender = CountedSender(sender)  # e-mails sent, retried and failed (observe/metrics.py)
    accounts = AccountActivities(engine)
    notifications = NotificationActivities(
        sender,
        outbox=Outbox(engine),
        secret_key=settings.secret_key.get_secret_value(),
        public_url=settings.public_url,
        mail_from=settings.mail_from,
    )
    resets = PasswordResetActivities(engine, sender, mail_from=settings.mail_from)
    archives = ArchiveActivities(client, engine, archive_reader(client, settings))
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        # A worker that died keeps its sticky queue; don't make the next form step wait the
        # default 10 s before another worker picks the journey up.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
        # Memory per cached run against a replay for one that is not (settings.py).
        max_cached_workflows=settings.worker_cached_journeys,
        # SIGTERM lets the activities in flight finish (an e-mail the server is taking).
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_seconds),
        activities=[
            accounts.reserve_username,
            accounts.issue_gckey,
            accounts.store_user_account,
            accounts.mark_email_confirmed,
            accounts.store_account_email,
            accounts.link_partner_identity,
            accounts.expire_gckey,
            accounts.release_username,
            accounts.store_gckey_password,
            notifications.send_confirmation_email,
            notifications.send_resume_email,
            notifications.send_lock_notice,
            archives.closed_journeys,
            archives.archive_journey,
            resets.send_reset_code,
        ],
    )


async def ensure_archive_schedule(client: Client, settings: Settings) -> None:
    """Every ``archive_every_seconds`` the journeys that closed are archived. Made once per
    task queue; a later start brings it to the settings' interval."""
    schedule_id = archive_schedule_id(settings.task_queue)
    schedule = Schedule(
        # No argument: a payload the schedule holds is encrypted for the schedule's id, not
        # for the id of each run it starts, so the worker would refuse it (core/crypto.py).
        # The sweep reads its task queue from where it runs.
        action=ScheduleActionStartWorkflow(
            ArchiveWorkflow.run, id=schedule_id, task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(seconds=settings.archive_every_seconds))
            ]
        ),
        # A sweep still running when the next is due makes the next one unnecessary.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(
            lambda _: ScheduleUpdate(schedule=schedule)
        )


async def watch_waiting_sign_ups(client: Client, settings: Settings) -> int:
    """Journeys begun before abandonment came, still before a credential, have no abandon
    timer: each is told to start one (a journey that has one ignores it). Their number."""
    steps = ", ".join(f"'{step.value}'" for step in sorted(BEFORE_A_CREDENTIAL))
    query = (
        f"WorkflowType = 'OnboardingWorkflow' AND ExecutionStatus = 'Running' "
        f"AND TaskQueue = '{settings.task_queue}' AND {search.STEP.name} IN ({steps})"
    )
    told = 0
    async for execution in client.list_workflows(query):
        # Declared: mypy cannot always solve get_workflow_handle_for alone (tests/journeys.py).
        handle: WorkflowHandle[OnboardingWorkflow, OnboardingResult] = (
            client.get_workflow_handle_for(OnboardingWorkflow.run, execution.id)
        )
        await handle.signal(OnboardingWorkflow.watch_for_abandonment, WatchForAbandonmentInput())
        told += 1
    if told:
        log.info("%d waiting sign-ups told to watch for abandonment", told)
    return told


async def connect(settings: Settings, engine: Engine, runtime: Runtime | None = None) -> Client:
    """A client whose payloads are encrypted with the settings' key ring, each workflow's under
    its own data key kept in ``engine`` (the application database), and that refuses any it
    receives that are not ours (unless the cut-over window is open)."""
    return await Client.connect(
        **settings.temporal_connection(),
        runtime=runtime,
        interceptors=temporal_interceptors(provider_for(settings, "cers-worker")),
        data_converter=data_converter(
            settings.payload_ring,
            DataKeys(engine, settings.payload_ring),
            accept_plaintext=settings.payload_accept_plaintext,
        ),
    )


@asynccontextmanager
async def probes(settings: Settings, client: Client) -> AsyncIterator[int]:
    """/healthz, /readyz and /metrics on WORKER_HEALTH_PORT (observe/worker_http.py)."""
    engine = make_engine(settings.sqlalchemy_url)
    try:
        async with worker_probes(settings, client, engine) as port:
            yield port
    finally:
        engine.dispose()


async def serve(runtime: Runtime) -> None:
    settings = get_settings()
    if settings.migrate_on_start:
        migrate(settings.sqlalchemy_url)
    keys_engine = make_engine(settings.sqlalchemy_url)
    client = await connect(settings, keys_engine, runtime)
    await ensure_archive_schedule(client, settings)
    await watch_waiting_sign_ups(client, settings)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with running_worker(client, settings), probes(settings, client):
        log.info("worker polling task queue %s", settings.task_queue)
        await stop.wait()
    log.info("worker stopped")
    keys_engine.dispose()


def main() -> None:
    """The worker's own Temporal runtime, dropped before the interpreter finalizes: left to
    finalization, its Rust threads could still reach into Python (a Fatal Python error,
    PyGILState_Release, on about one stop in six)."""
    configure_logging(get_settings())
    quiet_expected_faults()  # a mail server or database outage: one line per failed attempt
    runtime = temporal_runtime(get_settings())
    asyncio.run(serve(runtime))
    del runtime
    gc.collect()


if __name__ == "__main__":
    main()
