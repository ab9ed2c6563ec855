"""Key rotation on the real server: journeys started under key A finish, are archived, replay
and read once key B is put in front of the ring (B encrypts, A still decrypts); and a ring
that has lost A reads none of it."""

from __future__ import annotations

from pydantic import SecretStr
from temporalio.client import Client

from audit.replay import replay
from audit.sources import read_journey
from audit.timeline import build_timeline
from core.crypto import KEY_ID, EncryptionCodec, KeyRing
from core.temporal import data_converter, payloads_in
from db.engine import make_engine
from settings import Settings
from tests.archive_helpers import archive_now, archived, delete_from_temporal
from tests.conftest import MailCatcher, until
from tests.journeys import (
    begin,
    create_account,
    journey_handle,
    link_number_in,
    new_address,
    new_username,
    sign_up,
)
from worker import running_worker
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    AnswerTermsInput,
    ConfirmEmailInput,
    Step,
    SupportActionInput,
)


def with_ring(client: Client, settings: Settings, ring: KeyRing) -> tuple[Client, Settings]:
    rotated = settings.model_copy(update={"payload_keys": SecretStr(ring.text())})
    return (
        Client(
            client.service_client, namespace=client.namespace, data_converter=data_converter(ring)
        ),
        rotated,
    )


async def key_ids(client: Client, workflow_id: str) -> set[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return {
        p.metadata[KEY_ID].decode()
        for e in history.events
        for p in payloads_in(e)
        if KEY_ID in p.metadata
    }


async def test_journeys_started_under_key_a_finish_replay_and_archive_after_key_b_goes_first(
    client: Client, settings: Settings, smtp: MailCatcher
) -> None:
    ring_a = settings.payload_ring
    ring_b = KeyRing.parse(f"{KeyRing.new_key_text('test-b')},{ring_a.text()}")
    address = new_address()
    async with running_worker(client, settings):
        confirming = await begin(client, settings)
        await sign_up(client, confirming, new_username())
        await create_account(journey_handle(client, confirming), address)
        (message,) = await smtp.wait_for(address)
        cancelling = await begin(client, settings)
        await journey_handle(client, cancelling).execute_update(
            OnboardingWorkflow.answer_terms, AnswerTermsInput(True, settings.terms_version)
        )

    rotated_client, rotated = with_ring(client, settings, ring_b)
    async with running_worker(rotated_client, rotated):
        link = link_number_in(message, settings.secret_key.get_secret_value())
        handle = journey_handle(rotated_client, confirming)
        await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(link))

        async def at_portal() -> bool:
            return (await handle.query(OnboardingWorkflow.journey)).step is Step.PORTAL

        await until(at_portal, what="the journey at the portal under key B")
        cancelled = journey_handle(rotated_client, cancelling)
        await cancelled.execute_update(
            OnboardingWorkflow.cancel, SupportActionInput("ana", "Rotation test, no longer needed")
        )
        assert (await cancelled.result()).step is Step.CANCELLED
        await archive_now(rotated_client, rotated, cancelling)

    assert await key_ids(client, confirming) == {"test-a", "test-b"}
    assert archived(settings)[cancelling].journey_id == cancelling.removeprefix("onboarding-")
    await delete_from_temporal(client, cancelling)

    engine = make_engine(settings.sqlalchemy_url)
    try:
        reader = EncryptionCodec(ring_b, accept_plaintext=True)
        for workflow_id in (confirming, cancelling):
            journey = await read_journey(rotated_client, engine, workflow_id, reader)
            outcomes = await replay(journey.runs, ring_b)
            assert outcomes and all(o.passed for o in outcomes), [o.error for o in outcomes]
        said = [e.says.render(lambda m: m) for e in build_timeline(journey.latest.shown)]
        assert said[-1] == "Journey ended: cancelled by support staff."

        # Without key A, the archive's copy keeps its secrets: it does not even replay.
        lost_a = KeyRing.parse(KeyRing.new_key_text("test-c"))
        lost = await read_journey(rotated_client, engine, cancelling, EncryptionCodec(lost_a))
        assert not any(o.passed for o in await replay(lost.runs, lost_a))
        assert "cancelled by support staff" not in " ".join(
            e.says.render(lambda m: m) for e in build_timeline(lost.latest.shown)
        )
    finally:
        engine.dispose()
