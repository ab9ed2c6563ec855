"""A journey survives its worker process being killed mid-journey."""

from __future__ import annotations

import signal
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
from tests.process_helpers import worker_process
from workflows.onboarding import OnboardingWorkflow
from workflows.types import ConfirmEmailInput, SetRecoveryEmailInput, Step

ROOT = Path(__file__).resolve().parents[1]


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
