"""Support staff's actions, each seen from the person's side: the new confirmation e-mail, a
later deadline, a link back to the journey, an unlocked GCKey, a cancelled journey. Each
stands in the journey's history with the staff member and the reason, and in the audit log."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage

import pytest
from temporalio.client import Client

from db.audit import audit_entries
from db.engine import make_engine
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, history_bytes, until
from tests.journeys import begin, create_account, new_address, sign_up
from tests.test_staff import Staff, staff_sign_in
from tests.test_web import PASSWORD, link_in
from tests.web_helpers import Browser, Page, browser
from web.journeys import journey_id_of
from workflows.onboarding import OnboardingWorkflow
from workflows.types import ConfirmationStatus, RecordSignInInput, Step

REASON = "Asked by phone, ticket 4471"


@pytest.fixture
def staff(settings: Settings) -> Staff:
    return Staff(settings)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def act(b: Browser, journey_id: str, name: str, **fields: str) -> Page:
    """Fills in the action's form on the journey's page, or, when the page offers no such
    form, posts it anyway, as a stale page or a crafted request would."""
    page = await b.get(f"/en/staff/journeys/{journey_id}")
    data = {"reason": REASON, **fields}
    if f"actions/{name}" in page.response.text:
        return await b.submit(page, f"actions/{name}", data)
    _, hidden = page.form("")
    url = f"/en/staff/journeys/{journey_id}/actions/{name}"
    return Page(await b.http.post(url, data={**hidden, **data}))


def audited(settings: Settings, journey_id: str) -> list[tuple[str, str, str, str]]:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        return [
            (e.staff_username, e.action, e.reason, e.outcome)
            for e in audit_entries(engine, journey_id)
        ]
    finally:
        engine.dispose()


async def in_history(client: Client, workflow_id: str, *parts: str) -> bool:
    history = history_bytes(await client.get_workflow_handle(workflow_id).fetch_history())
    return all(part.encode() in history for part in parts)


async def confirming(
    client: Client, settings: Settings, expire_after: int | None = None
) -> tuple[str, str]:
    workflow_id = await begin(client, settings, expire_after)
    await sign_up(client, workflow_id, f"Sup{uuid.uuid4().hex[:6]}")
    address = new_address()
    await create_account(
        client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id), address
    )
    return workflow_id, address


async def test_resending_the_confirmation_kills_the_old_link(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher, staff: Staff
) -> None:
    async with (
        new_worker(client, settings),
        browser(settings, client) as desk,
        browser(settings, client) as person,
    ):
        workflow_id, address = await confirming(client, settings)
        journey_id = journey_id_of(workflow_id)
        (first,) = await smtp.wait_for(address)
        await staff_sign_in(desk, staff.support)
        page = await act(desk, journey_id, "resend_confirmation")
        assert page.text(".staff-actions .notice") == "Done: Resend the confirmation e-mail."
        _, second = await smtp.wait_for(address, 2)
        old = await person.submit(await person.get(link_in(text_of(first))), "confirm")
        assert old.h1 == "This confirmation link has been replaced"
        new = await person.submit(await person.get(link_in(text_of(second))), "confirm")
        assert new.h1 == "Your e-mail address is confirmed"
        assert await in_history(client, workflow_id, "resend_confirmation", staff.support, REASON)
    assert audited(settings, journey_id) == [(staff.support, "resend_confirmation", REASON, "done")]


async def test_extending_the_deadline_makes_an_expired_link_work_again(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher, staff: Staff
) -> None:
    async with (
        new_worker(client, settings),
        browser(settings, client) as desk,
        browser(settings, client) as person,
    ):
        workflow_id, address = await confirming(client, settings, expire_after=2)
        journey_id = journey_id_of(workflow_id)
        (message,) = await smtp.wait_for(address)
        handle = client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)

        async def expired() -> bool:
            state = await handle.query(OnboardingWorkflow.journey)
            return state.confirmation is ConfirmationStatus.EXPIRED

        await until(expired, what="the link to expire")
        page = await person.submit(await person.get(link_in(text_of(message))), "confirm")
        assert page.h1 == "This confirmation link has expired"
        await staff_sign_in(desk, staff.support)
        page = await act(desk, journey_id, "extend_deadline", hours="48")
        assert page.text(".staff-actions .notice") == "Done: Extend the confirmation deadline."
        page = await person.submit(await person.get(link_in(text_of(message))), "confirm")
        assert page.h1 == "Your e-mail address is confirmed"
        assert await in_history(client, workflow_id, "extend_deadline", '"hours":48', REASON)
    assert audited(settings, journey_id)[0][1:] == ("extend_deadline", REASON, "done")


async def test_a_resume_link_takes_the_person_back_to_their_step(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher, staff: Staff
) -> None:
    address = new_address()
    async with (
        new_worker(client, settings),
        browser(settings, client) as desk,
        browser(settings, client) as person,
        browser(settings, client) as other_device,
    ):
        page = await person.submit(await person.get("/en/gckey/sign-in"), "sign-up")
        page = await person.submit(page, "terms", {"decision": "accept"})
        assert page.h1 == "Create Your Username"
        journey_id = journey_id_of(person.session_journey())
        await staff_sign_in(desk, staff.support)
        page = await act(desk, journey_id, "send_resume_link", email="nope")
        assert page.status == 400 and page.field_error("email")  # kept, explained
        page = await act(desk, journey_id, "send_resume_link", email=address)
        assert page.text(".staff-actions .notice") == "Done: Send a link to continue the journey."
        (message,) = await smtp.wait_for(address)
        assert message["Subject"] == "Continue your CERS registration"
        link = re.search(r"http://testserver(/en/resume/\S+)", message.get_content())
        assert link
        page = await other_device.get(link.group(1))
        assert page.h1 == "Create Your Username"
        assert other_device.session_journey() == person.session_journey()
        page = await other_device.get("/en/resume/not-a-real-token")
        assert page.status == 410 and page.h1 == "This link no longer works"
    assert [a[3] for a in audited(settings, journey_id)] == ["refused", "done"]


async def test_unlocking_a_gckey_lets_its_owner_sign_in_at_once(
    client: Client, settings: Settings, new_worker: NewWorker, staff: Staff
) -> None:
    username = f"Unl{uuid.uuid4().hex[:6]}"
    async with (
        new_worker(client, settings),
        browser(settings, client) as desk,
        browser(settings, client) as person,
    ):
        workflow_id = await begin(client, settings)
        await sign_up(client, workflow_id, username)
        handle = client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)
        for _ in range(settings.lock_after_failures):
            await handle.execute_update(OnboardingWorkflow.record_sign_in, RecordSignInInput(False))
        sign_in = {"username": username, "password": PASSWORD}
        page = await person.submit(await person.get("/en/gckey/sign-in"), "sign-in", sign_in)
        assert page.status == 400 and page.h1 == "Welcome to GCKey"  # as a wrong password
        # No recovery e-mail and no account yet: no address to tell the owner at.
        assert not await in_history(client, workflow_id, "send_lock_notice")

        journey_id = journey_id_of(workflow_id)
        await staff_sign_in(desk, staff.support)
        page = await desk.get(f"/en/staff/journeys/{journey_id}")
        assert "Unlock the GCKey" in page.texts(".staff-actions legend")
        assert page.text(".locks") == "1" and page.text(".locked-until") != "Not locked"
        page = await act(desk, journey_id, "unlock_gckey")
        assert page.text(".staff-actions .notice") == "Done: Unlock the GCKey."
        assert page.text(".locked-until") == "Not locked"
        page = await person.submit(await person.get("/en/gckey/sign-in"), "sign-in", sign_in)
        assert page.h1 == "Welcome to CERS"
        # Unlocked already: a second unlock is refused by the journey, and says so.
        page = await act(desk, journey_id, "unlock_gckey")
        assert page.status == 409
        assert page.text(".error-summary li") == (
            "This action is not possible where the journey stands now."
        )
        assert await in_history(client, workflow_id, "unlock_gckey", staff.support, REASON)
    assert [a[3] for a in audited(settings, journey_id)] == ["done", "refused"]


async def test_cancelling_ends_the_journey_and_the_person_is_told(
    client: Client, settings: Settings, new_worker: NewWorker, staff: Staff
) -> None:
    async with (
        new_worker(client, settings),
        browser(settings, client) as desk,
        browser(settings, client) as person,
    ):
        page = await person.submit(await person.get("/en/gckey/sign-in"), "sign-up")
        workflow_id = person.session_journey()
        journey_id = journey_id_of(workflow_id)
        await staff_sign_in(desk, staff.auditor)
        page = await act(desk, journey_id, "cancel")
        assert page.status == 403  # auditors change nothing
        await staff_sign_in(desk, staff.support)
        page = await act(desk, journey_id, "cancel", reason="no")
        assert page.status == 400 and page.field_error("reason")
        page = await act(desk, journey_id, "cancel")
        assert page.text(".staff-actions .notice") == "Done: Cancel the journey."
        result = await client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id).result()
        assert result.step is Step.CANCELLED
        page = await person.get("/en/resume")
        assert page.h1 == "This registration was cancelled"
        assert await in_history(client, workflow_id, "cancel", staff.support, REASON)
    assert [(a[1], a[3]) for a in audited(settings, journey_id)] == [
        ("cancel", "refused"),
        ("cancel", "done"),
    ]


async def test_a_journey_cancelled_while_its_mail_server_refuses_still_ends(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher, staff: Staff
) -> None:
    """The confirmation e-mail that keeps failing is given up, not waited for."""
    smtp.refuse = True
    try:
        async with new_worker(client, settings), browser(settings, client) as desk:
            workflow_id, _ = await confirming(client, settings)
            await staff_sign_in(desk, staff.support)
            page = await act(desk, journey_id_of(workflow_id), "cancel")
            assert page.text(".staff-actions .notice") == "Done: Cancel the journey."
            handle = client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)
            assert (await handle.result()).step is Step.CANCELLED
    finally:
        smtp.refuse = False
