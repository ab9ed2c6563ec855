"""A project process (the site, the worker) started for a test and stopped after it, with the
environment an operator would give it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client

from settings import Settings
from tests.conftest import until

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def started(
    command: Sequence[str], env: Mapping[str, str], log: Path, ready: bytes
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Runs ``command`` from the project root, its output in ``log``, until ``ready`` appears
    there (or it dies, which fails the test with its log); killed after the block."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=dict(env), stdout=out, stderr=out
        )
    try:
        await until(
            lambda: process.returncode is not None or ready in log.read_bytes(),
            what=f"{command[-1]} to start",
        )
        assert process.returncode is None, log.read_text()
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def worker_environment(client: Client, settings: Settings) -> dict[str, str]:
    """What an operator would set for ``python worker.py``; the rest keep their defaults."""
    return {
        **os.environ,
        "ENVIRONMENT": "test",
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "TASK_QUEUE": settings.task_queue,
        "DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": "",
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "PAYLOAD_KEYS": settings.payload_keys.get_secret_value(),
        "PUBLIC_URL": settings.public_url,
        "WORKER_HEALTH_HOST": "127.0.0.1",
        "WORKER_HEALTH_PORT": "0",  # a free port: tests run side by side
    }


@asynccontextmanager
async def worker_process(
    client: Client, settings: Settings, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python worker.py`` in its own process, polling once its log says so."""
    env = worker_environment(client, settings)
    async with started((sys.executable, "worker.py"), env, log, b"worker polling") as process:
        yield process


def site_environment(client: Client, settings: Settings, public_url: str) -> dict[str, str]:
    """The same for the site, answering at ``public_url``; no Sign-In Partner."""
    return {**worker_environment(client, settings), "PUBLIC_URL": public_url, "PARTNER_ISSUER": ""}
