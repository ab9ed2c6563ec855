"""Support staff's actions, each seen from the person's side: the new confirmation e-mail, a
later deadline, a link back to the journey, an unlocked GCKey, a cancelled journey. Each
stands in the journey's history with the staff member and the reason, and in the audit log."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from email.message import EmailMessage

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.links import RESUME_SALT
from db.audit import audit_entries
from db.engine import make_engine
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, decoded_bytes, text_of, until
from tests.journeys import (
    PASSWORD,
    begin,
    choose_credentials,
    create_account,
    journey_handle,
    new_address,
    sign_up,
    terminate_if_running,
)
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Browser, Page, browser, link_in
from tests.web_helpers import sign_up as web_sign_up
from web.journeys import journey_id_of
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    ConfirmationStatus,
    SendResumeLinkInput,
    SetRecoveryEmailInput,
    Step,
)

REASON = "Asked by phone, ticket 4471"
LOGIN_PAGE = "Welcome to the Canadian Export Reporting System (CERS)"


@pytest.fixture
def staff(settings: Settings) -> Staff:
    return Staff(settings)


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


async def in_history(client: Client, settings: Settings, workflow_id: str, *parts: str) -> bool:
    """Whether the journey's history, decoded with the key ring, holds every part."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    decoded = await decoded_bytes(history, client)
    return all(part.encode() in decoded for part in parts)


async def confirming(
    client: Client, settings: Settings, expire_after: int | None = None
) -> tuple[str, str]:
    workflow_id = await begin(client, settings, expire_after)
    await sign_up(client, workflow_id, f"Sup{uuid.uuid4().hex[:6]}")
    address = new_address()
    await create_account(journey_handle(client, workflow_id), address)
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
        assert await in_history(
            client, settings, workflow_id, "resend_confirmation", staff.support, REASON
        )
        # Confirmed: the staff page no longer shows the link's deadline as if it still ran.
        page = await desk.get(f"/en/staff/journeys/{journey_id}")
        assert page.text(".deadline").startswith("None: the e-mail address was confirmed on ")
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
        handle = journey_handle(client, workflow_id)

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
        assert await in_history(
            client, settings, workflow_id, "extend_deadline", '"hours":48', REASON
        )
    assert audited(settings, journey_id)[0][1:] == ("extend_deadline", REASON, "done")


def resume_link_in(message: EmailMessage) -> str:
    link = re.search(r"http://testserver(/en/resume/\S+)", text_of(message))
    assert link, "the e-mail holds no resume link"
    return link.group(1)


def old_token(settings: Settings, journey_id: str, number: int, hours: float) -> str:
    """A resume token as the site signs them, but signed ``hours`` ago."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - hours * 3600)

    serializer = URLSafeTimedSerializer(
        settings.secret_key.get_secret_value(), salt=RESUME_SALT, signer=Then
    )
    return str(serializer.dumps([journey_id, number]))


async def test_no_resume_link_for_a_journey_without_a_credential(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher, staff: Staff
) -> None:
    """Before a GCKey exists nobody can be told apart from whoever holds a link, so none is
    sent; the sign-up goes on only in the browser that began it."""
    attacker = new_address()
    async with (
        new_worker(client, settings),
        browser(settings, client) as desk,
        browser(settings, client) as person,
        browser(settings, client) as other_device,
    ):
        page = await person.submit(await person.get("/en/gckey/sign-in"), "sign-up")
        page = await person.submit(page, "terms", {"decision": "accept"})
        assert page.h1 == "Create Your Username"
        workflow_id = person.session_journey()
        journey_id = journey_id_of(workflow_id)
        await staff_sign_in(desk, staff.support)
        page = await desk.get(f"/en/staff/journeys/{journey_id}")
        assert "Send a link to continue the journey" not in page.texts(".staff-actions legend")
        page = await act(desk, journey_id, "send_resume_link", email=attacker)
        assert page.status == 409
        assert page.text(".error-summary li") == (
            "This action is not possible where the journey stands now."
        )
        state = await client.get_workflow_handle(workflow_id).query(OnboardingWorkflow.journey)
        assert state.resume_links_sent == 0
        assert (await other_device.get("/en/resume")).h1 == LOGIN_PAGE
        assert (await person.get("/en/resume")).h1 == "Create Your Username"
    assert audited(settings, journey_id) == [(staff.support, "send_resume_link", REASON, "refused")]
    assert smtp.to(attacker) == []


async def test_a_resume_link_goes_to_the_journeys_own_address_and_only_leads_to_sign_in_once(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher, staff: Staff
) -> None:
    username = f"Res{uuid.uuid4().hex[:6]}"
    recovery, attacker = new_address(), new_address()
    async with (
        new_worker(client, settings),
        browser(settings, client) as desk,
        browser(settings, client) as person,
        browser(settings, client) as other_device,
    ):
        # Signed up with a recovery e-mail, then stopped before Create User Account.
        page = await web_sign_up(person, "en", username, recovery)
        assert page.h1 == "Your GCKey has been issued"
        workflow_id = person.session_journey()
        journey_id = journey_id_of(workflow_id)
        await staff_sign_in(desk, staff.support)
        # An address staff type (as a caller claiming the journey would ask) is refused.
        page = await act(desk, journey_id, "send_resume_link", email=attacker)
        assert page.status == 400
        assert page.field_error("email") == (
            "Error: Choose one of the addresses this journey holds."
        )
        page = await desk.get(f"/en/staff/journeys/{journey_id}")
        choices = page.html.css("input[name=email][type=radio]")
        assert [c.attributes.get("value") for c in choices] == [recovery]
        assert "checked" in choices[0].attributes
        assert page.html.css("input[name=email][type=email], input[name=email][type=text]") == []
        for sent in (1, 2):
            page = await act(desk, journey_id, "send_resume_link", email=recovery)  # as offered
            assert page.text(".staff-actions .notice") == (
                "Done: Send a link to continue the journey."
            )
            await smtp.wait_for(recovery, sent)
        first, second = (resume_link_in(m) for m in smtp.to(recovery))
        assert smtp.to(attacker) == []

        # The older link stopped working when the newer one was sent.
        page = await other_device.get(first)
        assert page.status == 410 and page.h1 == "This link no longer works"
        # A link signed more than 72 hours ago no longer works either.
        stale = old_token(settings, journey_id, 2, hours=73)
        page = await other_device.get(f"/en/resume/{stale}")
        assert page.status == 410 and page.h1 == "This link no longer works"

        # Opened in a fresh browser: it signs nobody in and opens no journey.
        page = await other_device.get(second)
        assert page.status == 200 and page.h1 == "Sign in to continue where you stopped"
        page = await other_device.submit(page, "/resume/")
        assert page.h1 == "Welcome to GCKey"  # GCKey Sign In
        assert "journey" not in other_device.session() and "auth" not in other_device.session()
        assert (await other_device.get("/en/gckey/username")).h1 == LOGIN_PAGE
        assert (await other_device.get("/en/cers/account")).h1 == "Welcome to GCKey"
        # It works once.
        again = await other_device.get(second)
        assert again.status == 410 and again.h1 == "This link no longer works"
        _, hidden = page.form("sign-in")
        replayed = Page(await other_device.http.post(second, data=hidden))
        assert replayed.status == 410 and replayed.h1 == "This link no longer works"
        # The owner signs in and is taken to the unfinished step.
        page = await other_device.submit(
            page, "sign-in", {"username": username, "password": PASSWORD}
        )
        assert page.h1 == "Welcome to CERS"

        state = await client.get_workflow_handle(workflow_id).query(OnboardingWorkflow.journey)
        assert state.resume_links_sent == 2 and state.resume_link_used == 2
        assert await in_history(
            client, settings, workflow_id, "use_resume_link", "send_resume_link"
        )
    assert [(a[1], a[3]) for a in audited(settings, journey_id)] == [
        ("send_resume_link", "refused"),
        ("send_resume_link", "done"),
        ("send_resume_link", "done"),
    ]


async def test_a_resume_link_expires_after_72_hours(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """The journey keeps each link's deadline; the site's clock is not the one that counts."""
    client = time_env.client
    recovery = new_address()
    async with new_worker(client, settings), browser(settings, client) as person:
        workflow_id = await begin(client, settings)
        handle = journey_handle(client, workflow_id)
        try:
            await choose_credentials(handle, f"Exp{uuid.uuid4().hex[:6]}")
            await handle.execute_update(
                OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(recovery)
            )
            await handle.execute_update(
                OnboardingWorkflow.send_resume_link, SendResumeLinkInput("ana", REASON, recovery)
            )
            (message,) = await smtp.wait_for(recovery)
            await time_env.sleep(timedelta(hours=73))
            page = await person.get(resume_link_in(message))
            if page.status == 200:  # the site's own clock has not moved; the journey's has
                page = await person.submit(page, "/resume/")
            assert page.status == 410 and page.h1 == "This link no longer works"
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.resume_link_used == 0
        finally:
            await terminate_if_running(handle)


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
        sign_in = {"username": username, "password": PASSWORD}
        wrong = {"username": username, "password": "Wrong7Password"}
        for _ in range(settings.lock_after_failures):
            await person.submit(await person.get("/en/gckey/sign-in"), "sign-in", wrong)
        page = await person.submit(await person.get("/en/gckey/sign-in"), "sign-in", sign_in)
        assert page.status == 400 and page.h1 == "Welcome to GCKey"  # as a wrong password
        # No recovery e-mail and no account yet: no address to tell the owner at.
        assert not await in_history(client, settings, workflow_id, "send_lock_notice")

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
        assert await in_history(
            client, settings, workflow_id, "unlock_gckey", staff.support, REASON
        )
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
        result = await journey_handle(client, workflow_id).result()
        assert result.step is Step.CANCELLED
        page = await person.get("/en/resume")
        assert page.h1 == "This registration was cancelled"
        assert await in_history(client, settings, workflow_id, "cancel", staff.support, REASON)
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
            handle = journey_handle(client, workflow_id)
            assert (await handle.result()).step is Step.CANCELLED
    finally:
        smtp.refuse = False
