"""Key rotation on the real server: journeys started under key A finish, are archived, replay
and read once key B is put in front of the ring (B wraps new journeys' data keys, A still
unwraps the old ones); rewrapping moves every data key under B, after which a ring of B alone
reads everything; and a ring that has lost A reads none of it before."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from audit.replay import replay
from audit.sources import read_journey
from audit.timeline import build_timeline
from core.crypto import DATA_KEY, ENCODING, KEY_ID, EncryptionCodec, KeyRing
from core.temporal import data_converter, payloads_in
from db.datakeys import DataKeys
from db.engine import make_engine
from db.models import JourneyDataKey
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


def with_ring(
    client: Client, settings: Settings, ring: KeyRing, engine: Engine
) -> tuple[Client, Settings]:
    rotated = settings.model_copy(update={"payload_keys": SecretStr(ring.text())})
    converter = data_converter(ring, DataKeys(engine, ring))
    return Client(client.service_client, namespace=client.namespace, data_converter=converter), (
        rotated
    )


async def sealed_by(client: Client, workflow_id: str) -> set[str]:
    """What seals the journey's payloads: ring key ids, or "data key"."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return {
        "data key" if DATA_KEY in p.metadata else p.metadata[KEY_ID].decode()
        for e in history.events
        for p in payloads_in(e)
        if p.metadata.get("encoding") == ENCODING
    }


def wrapped_by(engine: Engine, workflow_id: str) -> str:
    with Session(engine) as session:
        row = session.get(JourneyDataKey, workflow_id)
        assert row is not None and row.wrapped is not None
        return row.ring_key_id


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

    engine = make_engine(settings.sqlalchemy_url)
    rotated_client, rotated = with_ring(client, settings, ring_b, engine)
    async with running_worker(rotated_client, rotated):
        after = await begin(rotated_client, rotated)
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

    # Every payload of a journey is under its own data key, before and after the rotation; the
    # data key names the ring key that wraps it: A for the old journeys, B for a new one.
    assert await sealed_by(client, confirming) == {"data key"}
    assert wrapped_by(engine, confirming) == "test-a" and wrapped_by(engine, after) == "test-b"
    assert archived(settings)[cancelling].journey_id == cancelling.removeprefix("onboarding-")
    await delete_from_temporal(client, cancelling)

    try:
        b_keys = DataKeys(engine, ring_b)
        reader = EncryptionCodec(ring_b, accept_plaintext=True, keys=b_keys)
        for workflow_id in (confirming, cancelling):
            journey = await read_journey(rotated_client, engine, workflow_id, reader)
            outcomes = await replay(journey.runs, ring_b, keys=b_keys)
            assert outcomes and all(o.passed for o in outcomes), [o.error for o in outcomes]
        said = [e.says.render(lambda m: m) for e in build_timeline(journey.latest.shown)]
        assert said[-1] == "Journey ended: cancelled by support staff."

        # Without key A, the archive's copy keeps its secrets: it does not even replay.
        lost_a = KeyRing.parse(KeyRing.new_key_text("test-c"))
        lost_keys = DataKeys(engine, lost_a)
        lost = await read_journey(
            rotated_client, engine, cancelling, EncryptionCodec(lost_a, keys=lost_keys)
        )
        assert not any(o.passed for o in await replay(lost.runs, lost_a, keys=lost_keys))
        assert "cancelled by support staff" not in " ".join(
            e.says.render(lambda m: m) for e in build_timeline(lost.latest.shown)
        )

        # Rewrapped under B, the data keys need A no more: a ring of B alone reads the archive.
        assert b_keys.rewrap() == 2
        assert wrapped_by(engine, confirming) == wrapped_by(engine, cancelling) == "test-b"
        only_b = KeyRing(ring_b.keys[:1])
        b_alone = DataKeys(engine, only_b)
        journey = await read_journey(
            rotated_client, engine, cancelling, EncryptionCodec(only_b, keys=b_alone)
        )
        assert all(o.passed for o in await replay(journey.runs, only_b, keys=b_alone))
    finally:
        engine.dispose()
