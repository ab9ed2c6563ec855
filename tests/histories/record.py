"""Records one history per path of the journey into this folder, for the replay test.

    python -m tests.histories.record

Run it when a path is added, never to paper over a replay failure: a history that no longer
replays means the workflow change needs `workflow.patched(...)`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client

from settings import Settings
from tests.journeys import Journey, begin, choose_credentials, create_account
from tests.stack import local_stack
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    AnswerTermsInput,
    ConfirmationStatus,
    ConfirmEmailInput,
    RequestNewLinkInput,
    SetRecoveryEmailInput,
)

HERE = Path(__file__).parent
log = logging.getLogger("record")


async def start(client: Client, settings: Settings, expire_after_seconds: int) -> Journey:
    workflow_id = await begin(client, settings, expire_after_seconds, language="fr")
    return client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)


async def completed(handle: Journey) -> None:
    await choose_credentials(handle, f"Histo{uuid.uuid4().hex[:6]}")
    await handle.execute_update(
        OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput("recover@example.ca")
    )
    await create_account(handle, "completed@example.ca")
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(1))


async def declined_terms(handle: Journey) -> None:
    await handle.execute_update(
        OnboardingWorkflow.answer_terms, AnswerTermsInput(accepted=False, terms_version="2024-07")
    )


async def expired_then_new_link(handle: Journey) -> None:
    await choose_credentials(handle, f"Histo{uuid.uuid4().hex[:6]}")
    await handle.execute_update(OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(""))
    await create_account(handle, "expired@example.ca")
    while (await handle.query(OnboardingWorkflow.journey)).confirmation is not (
        ConfirmationStatus.EXPIRED
    ):
        await asyncio.sleep(0.2)
    await handle.execute_update(OnboardingWorkflow.request_new_link, RequestNewLinkInput())
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(2))


PATHS: dict[str, tuple[int, Callable[[Journey], Awaitable[None]]]] = {
    "completed": (72 * 3600, completed),
    "declined_terms": (72 * 3600, declined_terms),
    "expired_then_new_link": (2, expired_then_new_link),
}


async def main() -> None:
    async with local_stack() as stack:
        for name, (expire_after, walk) in PATHS.items():
            handle = await start(stack.client, stack.settings, expire_after)
            await walk(handle)
            await handle.result()
            history = await handle.fetch_history()
            (HERE / f"{name}.json").write_text(history.to_json())
            log.info("recorded %s: %d events", name, len(history.events))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main())
