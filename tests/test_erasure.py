"""Erasing a closed journey's personal information, over real HTTP with a real worker: its data
key (and its Forgot your password? attempt's) is destroyed, so nobody reads its history in
Temporal or the archive any more, in this process or another; its personal rows are gone; the
staff page, the timeline and the replay command say it was erased; every other journey still
reads. Refused for an open journey, for one whose person holds a CERS account, and for
anyone but support staff."""

from __future__ import annotations

import io

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory

from audit.__main__ import replay_command
from core.crypto import DATA_KEY, DataKeyErased, EncryptionCodec
from core.temporal import data_converter, payloads_in
from db.datakeys import DataKeys
from db.engine import make_engine
from db.queries import gckey_for
from settings import Settings
from tests.archive_helpers import archive_now, archived, declined_journey
from tests.conftest import TEST_RING, NewWorker, decoded_bytes, reader
from tests.journeys import (
    QUESTION_IDS,
    begin,
    create_account,
    journey_handle,
    new_address,
    new_username,
    sign_up,
    terminate_if_running,
)
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Browser, Page, browser
from web.journeys import journey_id_of
from web.resets import Resets
from worker import running_worker
from workflows.onboarding import OnboardingWorkflow
from workflows.types import SupportActionInput

REASON = "Privacy request 2026-118, no account made"


@pytest.fixture
def staff(settings: Settings) -> Staff:
    return Staff(settings)


async def erase(b: Browser, journey_id: str, reason: str = REASON, lang: str = "en") -> Page:
    """The journey page's form when it offers one; else posted anyway, as a crafted request."""
    page = await b.get(f"/{lang}/staff/journeys/{journey_id}")
    if f"journeys/{journey_id}/erase" in page.response.text:
        return await b.submit(page, "/erase", {"reason": reason})
    _, hidden = page.form("")
    url = f"/{lang}/staff/journeys/{journey_id}/erase"
    return Page(await b.http.post(url, data={**hidden, "reason": reason}))


async def cancelled(client: Client, workflow_id: str) -> None:
    handle = journey_handle(client, workflow_id)
    await handle.execute_update(OnboardingWorkflow.cancel, SupportActionInput("ana", "Test ends"))
    await handle.result()


def sealed(history: WorkflowHistory) -> list[Payload]:
    """The payloads under the workflow's data key (the markers Temporal writes are plain)."""
    return [p for e in history.events for p in payloads_in(e) if DATA_KEY in p.metadata]


async def opens(codec: EncryptionCodec, payloads: list[Payload]) -> bool:
    """Whether every payload decodes; False once the data key is gone."""
    try:
        for payload in payloads:
            await codec.open(payload)
    except DataKeyErased:
        return False
    return True


async def test_an_erased_journey_reads_nowhere_and_every_other_one_still_does(
    client: Client, settings: Settings, new_worker: NewWorker, staff: Staff
) -> None:
    username = new_username()
    async with new_worker(client, settings), browser(settings, client) as desk:
        erased_id = await begin(client, settings)
        await sign_up(client, erased_id, username)  # a GCKey, recovery answers and hints
        journey_id = journey_id_of(erased_id)
        reset_id = await Resets(client, settings).start(journey_id, QUESTION_IDS, "en")
        await client.get_workflow_handle(reset_id).terminate("test: the attempt ends")
        await cancelled(client, erased_id)
        kept_id = await declined_journey(client, settings)
        await archive_now(client, settings, erased_id, kept_id)

        await staff_sign_in(desk, staff.auditor)
        assert (await erase(desk, journey_id)).status == 403  # auditors change nothing
        await staff_sign_in(desk, staff.support)
        page = await erase(desk, journey_id, reason="no")
        assert page.status == 400 and page.field_error("reason")
        page = await erase(desk, journey_id)
        assert page.status == 200 and "/erase" not in page.response.text  # offered no more
        erased = page.text(".erased p")
        assert erased.startswith("Personal information erased on ")
        assert f"by {staff.support} because: {REASON}" in erased
        assert username not in page.response.text
        again = await desk.http.post(
            f"/en/staff/journeys/{journey_id}/erase",
            data={"csrf_token": page.form("")[1].get("csrf_token", ""), "reason": REASON},
        )
        assert Page(again).text(".erased p") == erased  # a second press changes nothing

        # Temporal's copy and the archive's, for this process and for one that never cached
        # the key: nothing decodes. The other journey still reads everywhere.
        fresh_engine = make_engine(settings.sqlalchemy_url)
        try:
            elsewhere = EncryptionCodec(TEST_RING, keys=DataKeys(fresh_engine, TEST_RING))
            for workflow_id in (erased_id, reset_id):
                history = await client.get_workflow_handle(workflow_id).fetch_history()
                assert sealed(history)
                for codec in (reader(client), elsewhere):
                    assert not await opens(codec, sealed(history)), workflow_id
                assert username.encode() not in await decoded_bytes(history, client)
            archive = archived(settings)
            kept_copy = WorkflowHistory.from_json(kept_id, archive[kept_id].history_json)
            erased_copy = WorkflowHistory.from_json(erased_id, archive[erased_id].history_json)
            assert not await opens(elsewhere, sealed(erased_copy))
            assert await opens(elsewhere, sealed(kept_copy))
            kept = await client.get_workflow_handle(kept_id).fetch_history()
            assert await opens(elsewhere, sealed(kept))
            # The app database keeps nothing of the person: no GCKey, username, hash or hint.
            assert gckey_for(fresh_engine, journey_id) is None
        finally:
            fresh_engine.dispose()

        for path in ("timeline", "history.json", "timeline.html"):
            shown = await desk.get(f"/fr/staff/journeys/{journey_id}/{path}")
            assert shown.status == 410
            assert "Renseignements personnels effacés le " in shown.text(".erased p")
        other = await desk.get(f"/en/staff/journeys/{journey_id_of(kept_id)}/timeline")
        assert other.status == 200 and other.texts(".timeline td")

    out = io.StringIO()
    code = await replay_command(
        ["replay", "--workflow-id", erased_id, kept_id], client, settings, out, io.StringIO()
    )
    lines = out.getvalue().splitlines()
    assert code == 0, lines
    assert any(line.startswith(f"ERASED {erased_id} ") for line in lines)
    assert any(line.startswith(f"PASS {kept_id} ") for line in lines)
    assert lines[-1] == "1 passed, 0 failed, 1 erased"
    out = io.StringIO()
    assert await replay_command(["replay", "--from-archive"], None, settings, out) == 0
    assert f"ERASED {erased_id} " in out.getvalue()


async def test_erasure_is_refused_for_an_open_journey_and_for_a_cers_account_holder(
    client: Client, settings: Settings, new_worker: NewWorker, staff: Staff
) -> None:
    async with new_worker(client, settings), browser(settings, client) as desk:
        still_open = await begin(client, settings)
        with_account = await begin(client, settings)
        await sign_up(client, with_account, new_username())
        await create_account(journey_handle(client, with_account), new_address())
        # Closed by an operator (an update right after Create User Account can meet the dev
        # server's WorkflowNotReady while the e-mail's activity is being scheduled).
        await journey_handle(client, with_account).terminate("test: the journey ends")

        await staff_sign_in(desk, staff.support, "fr")
        page = await erase(desk, journey_id_of(still_open), lang="fr")
        assert page.status == 409
        assert "toujours ouvert" in page.text(".error-summary")
        page = await erase(desk, journey_id_of(with_account), lang="fr")
        assert page.status == 409
        assert "compte SCDE" in page.text(".error-summary")
        # Still readable: nothing was destroyed.
        for workflow_id in (still_open, with_account):
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            assert await opens(reader(client), sealed(history))
        await terminate_if_running(journey_handle(client, still_open))

    async with browser(settings, client) as anonymous:
        page = await erase(anonymous, journey_id_of(with_account))
        assert page.h1 != "Erase personal information" and page.status in (200, 403)
        assert "staff/sign-in" in str(page.response.url)


async def test_a_journey_from_before_data_keys_loses_its_archived_copy_instead(
    client: Client, settings: Settings, staff: Staff
) -> None:
    """Its payloads are under the ring key, which erasure cannot destroy: the archive's copy
    is deleted, and the page still says who erased it and why."""
    ring_only = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=data_converter(TEST_RING),
    )
    async with running_worker(ring_only, settings):
        legacy_id = await declined_journey(ring_only, settings)
        await archive_now(ring_only, settings, legacy_id)
    history = await client.get_workflow_handle(legacy_id).fetch_history()
    assert not sealed(history)  # no data key: the ring's
    async with running_worker(client, settings), browser(settings, client) as desk:
        await staff_sign_in(desk, staff.support)
        page = await erase(desk, journey_id_of(legacy_id))
        assert f"by {staff.support} because: {REASON}" in page.text(".erased p")
    assert legacy_id not in archived(settings)
