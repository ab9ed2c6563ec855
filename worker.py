"""The one place that wires concrete things together: database, SMTP, Temporal worker."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.accounts import AccountActivities
from activities.email import EmailSender, SmtpSender
from activities.notify import NotificationActivities
from db.engine import make_engine, migrate
from settings import Settings, get_settings
from workflows.onboarding import OnboardingWorkflow

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


def build_worker(client: Client, settings: Settings, engine: Engine, sender: EmailSender) -> Worker:
    accounts = AccountActivities(engine)
    notifications = NotificationActivities(
        sender,
        secret_key=settings.secret_key.get_secret_value(),
        public_url=settings.public_url,
        mail_from=settings.mail_from,
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[OnboardingWorkflow],
        # A worker that died keeps its sticky queue; don't make the next form step wait the
        # default 10 s before another worker picks the journey up.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
        activities=[
            accounts.reserve_username,
            accounts.issue_gckey,
            accounts.create_user_account,
            accounts.mark_email_confirmed,
            notifications.send_confirmation_email,
        ],
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address or "127.0.0.1:7233", namespace=settings.temporal_namespace
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    migrate(settings.sqlalchemy_url)
    client = await connect(settings)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with running_worker(client, settings):
        log.info("worker polling task queue %s", settings.task_queue)
        await stop.wait()
    log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
