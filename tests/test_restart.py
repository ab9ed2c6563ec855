"""A journey survives its worker process being killed mid-journey."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client

from settings import Settings
from tests.conftest import MailCatcher
from tests.journeys import (
    HINTS,
    QUESTION_IDS,
    at_portal,
    begin,
    choose_credentials,
    create_account,
    journey_handle,
    link_number_in,
    new_address,
    new_username,
)
from tests.process_helpers import started
from workflows.onboarding import OnboardingWorkflow
from workflows.types import ConfirmEmailInput, SetRecoveryEmailInput, Step

ROOT = Path(__file__).resolve().parents[1]


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


async def test_journey_resumes_after_worker_is_killed(
    client: Client, settings: Settings, smtp: MailCatcher, tmp_path: Path
) -> None:
    username = new_username()
    async with worker_process(client, settings, tmp_path / "worker-1.log") as first:
        wf_id = await begin(client, settings)
        handle = journey_handle(client, wf_id)
        await choose_credentials(handle, username)
        # No goodbye to the server: the process dies as in a power cut.
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL

    async with worker_process(client, settings, tmp_path / "worker-2.log"):
        # The server first offers the next step to the dead process's sticky queue; the
        # person's next click waits that out (the SDK's 10 s default) before it is answered.
        # The GCKey is issued against the username the dead process reserved.
        issued = await handle.execute_update(
            OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput("")
        )
        assert issued.step is Step.CREATE_ACCOUNT
        address = new_address()
        created = await create_account(handle, address)
        (message,) = await smtp.wait_for(address)
        link = link_number_in(message, settings.secret_key.get_secret_value())
        await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(link))
        state = await at_portal(handle)

    assert state.urn == created.urn
    # Everything typed before the crash is still there.
    assert state.username == username
    assert state.recovery_question_ids == QUESTION_IDS
    assert state.recovery_hints == HINTS
    assert state.terms_version == "2024-07" and state.password_set_at is not None
    assert state.gckey_issued_at is not None and state.confirmed_at is not None
