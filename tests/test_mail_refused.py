"""An address the mail server refuses for good (an SMTP 5xx), with the real SMTP server: the
e-mail is not retried forever, the person is told on their portal page in their language and
gives another address, whose new link works (the old one no longer does), and support sees
why the journey stood still. A 4xx is still retried."""

from __future__ import annotations

import uuid
from datetime import timedelta
from email.message import EmailMessage

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.email import MailNotSent, SmtpSender
from core.links import ConfirmationLink, make_token
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.journeys import (
    Journey,
    begin,
    create_account,
    journey_handle,
    new_address,
    new_username,
    sign_up,
    terminate_if_running,
)
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Browser, Page, browser, link_in
from tests.web_helpers import sign_up as sign_up_on_the_site
from workflows.onboarding import OnboardingWorkflow
from workflows.types import MAIL_REFUSED, EmailKind

# What the test server answers (devstack/servers.py), as the journey keeps it: no address.
UNKNOWN_USER = "550 5.1.1 <address>: Recipient address rejected: User unknown"


def message_to(address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "cers@example.ca", address, "Test"
    message.set_content("Test")
    return message


async def test_a_lasting_refusal_is_final_and_a_passing_one_is_retried(smtp: MailCatcher) -> None:
    sender = SmtpSender("127.0.0.1", smtp.port)
    unknown, rejected = new_address(), new_address()
    smtp.unknown.add(unknown)
    smtp.rejected.add(rejected)
    for address, answer in ((unknown, UNKNOWN_USER), (rejected, "554 5.7.1")):
        with pytest.raises(ApplicationError) as refused:
            await sender.send(message_to(address))
        assert (refused.value.type, refused.value.non_retryable) == (MAIL_REFUSED, True)
        assert str(refused.value.details[0]).startswith(answer)
        assert address not in str(refused.value)  # the logs and history keep no address
    smtp.refuse = True  # 451: the server may take it later
    try:
        with pytest.raises(MailNotSent) as later:  # an ordinary failure: the activity retries
            await sender.send(message_to(new_address()))
        assert str(later.value).startswith("(451,")
    finally:
        smtp.refuse = False


async def portal_says_refused(b: Browser, lang: str) -> Page:
    async def told() -> bool:
        page = await b.get(f"/{lang}/portal")
        return page.html.css_first(".status.refused") is not None

    await until(told, what="the portal to say the address was refused")
    return await b.get(f"/{lang}/portal")


async def test_a_refused_address_is_told_on_the_portal_and_can_be_changed(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    refused, new = new_address(), new_address()
    smtp.unknown.add(refused)
    staff = Staff(settings)
    async with (
        new_worker(client, settings),
        browser(settings, client) as b,
        browser(settings, client) as support,
    ):
        page = await sign_up_on_the_site(b, "en", f"Ref{uuid.uuid4().hex[:7]}")
        page = await b.submit(page, "issued")
        page = await b.get("/en/cers/account")
        account = {
            "given_name": "Jean",
            "family_name": "Refus",
            "email": refused,
            "time_zone": "America/Toronto",
            "language": "fr",
        }
        page = await b.submit(page, "account", account)
        assert page.h1 == "Your user account is now created"
        workflow_id = b.session_journey()
        journey_id = workflow_id.removeprefix("onboarding-")

        page = await portal_says_refused(b, "en")
        assert page.text(".status.refused") == (
            f"The mail server would not accept the address {refused}, so no confirmation "
            "message could be sent to it. Give another e-mail address."
        )
        assert not page.html.css("form[action$='/new-link']")  # it would go to the same address
        page = await portal_says_refused(b, "fr")
        assert page.text(".status.refused") == (
            f"Le serveur de courriel n'a pas accepté l'adresse {refused}, et aucun message de "
            "confirmation n'a pu y être envoyé. Indiquez une autre adresse courriel."
        )

        # Tried once, and not again: the journey is not left retrying forever.
        handle = journey_handle(client, workflow_id)
        assert not (await handle.describe()).raw_description.pending_activities
        events = [e.event_type for e in (await handle.fetch_history()).events]
        assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED) == 1
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events

        # Support sees why, in both languages.
        await staff_sign_in(support, staff.support)
        staff_page = await support.get(f"/en/staff/journeys/{journey_id}")
        assert staff_page.texts(".stuck-reasons li") == [
            f"The mail server refused the address {refused}: {UNKNOWN_USER}"
        ]
        staff_page = await support.get(f"/fr/staff/journeys/{journey_id}")
        assert staff_page.texts(".stuck-reasons li") == [
            f"Le serveur de courriel a refusé l'adresse {refused} : {UNKNOWN_USER}"
        ]

        # An address CERS cannot send to is refused at the field, the input kept.
        page = await b.submit(page, "portal/email", {"email": "élan@exemple.ca"})
        assert page.status == 400
        assert page.field_error("email").startswith("Erreur : Le SCDE ne peut pas envoyer")
        email_input = page.html.css_first("#email")
        assert email_input is not None
        assert email_input.attributes["value"] == "élan@exemple.ca"
        assert "email-error" in str(email_input.attributes["aria-describedby"])

        page = await b.submit(page, "portal/email", {"email": f" {new} "})
        assert page.h1 == "Portail du SCDE"
        assert page.text(".notice") == (
            f"Un nouveau lien de confirmation est en cours d'envoi à {new}. Les liens "
            "précédents ne fonctionnent plus."
        )
        assert page.html.css_first(".status.refused") is None
        (message,) = await smtp.wait_for(new)
        assert message["Subject"] == "Confirmez votre adresse courriel pour le SCDE"

        # The first link, had it arrived, no longer works; the new one does.
        secret = settings.secret_key.get_secret_value()
        old = make_token(secret, ConfirmationLink(journey_id, 1))
        page = await b.get(f"/en/confirm/{old}")
        page = await b.submit(page, "confirm")
        assert (page.status, page.h1) == (410, "This confirmation link has been replaced")
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        page = await b.get(link_in(text))
        page = await b.submit(page, "confirm")
        assert page.h1 == "Votre adresse courriel est confirmée"

        staff_page = await support.get(f"/en/staff/journeys/{journey_id}")
        assert staff_page.text(".who-facts .email") == new
        assert not staff_page.texts(".stuck-reasons li")


async def test_only_a_refused_address_can_be_changed(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """The form is offered only after a refusal, and the journey refuses it otherwise: a
    signed-in session cannot quietly move an account to another address."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await sign_up_on_the_site(b, "en", f"Ok{uuid.uuid4().hex[:7]}")
        page = await b.submit(page, "issued")
        page = await b.get("/en/cers/account")
        address = new_address()
        page = await b.submit(
            page,
            "account",
            {
                "given_name": "Jean",
                "family_name": "Accepte",
                "email": address,
                "time_zone": "America/Toronto",
                "language": "en",
            },
        )
        await smtp.wait_for(address)
        page = await b.get("/en/portal")
        assert not page.html.css("form[action$='/portal/email']")
        page = Page(
            await b.http.post(
                "/en/portal/email",
                data={"csrf_token": b.session()["csrf"], "email": new_address()},
            )
        )
        assert page.h1 == "CERS portal"
        assert address in page.text(".status")
        handle = journey_handle(client, b.session_journey())
        state = await handle.query(OnboardingWorkflow.journey)
        assert state.profile is not None and state.profile.email == address
        assert state.link_number == 1


async def test_no_reminder_goes_to_a_refused_address(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """The reminder a day later would be refused again: it is not sent."""
    client = time_env.client
    refused = new_address()
    smtp.unknown.add(refused)
    async with new_worker(client, settings):
        workflow_id = await begin(client, settings)
        await sign_up(client, workflow_id, new_username())
        handle: Journey = journey_handle(client, workflow_id)
        try:
            await create_account(handle, refused)

            async def recorded() -> bool:
                state = await handle.query(OnboardingWorkflow.journey)
                return state.mail_refused is not None

            await until(recorded, what="the refusal to be recorded")
            await time_env.sleep(timedelta(hours=settings.reminder_after_hours + 1))

            async def reminder_time_passed() -> bool:
                history = await handle.fetch_history()
                fired = EventType.EVENT_TYPE_TIMER_FIRED
                return any(e.event_type == fired for e in history.events)

            await until(reminder_time_passed, what="the reminder's timer to fire")
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.reminders_sent == 0
            assert state.mail_refused is not None
            assert state.mail_refused.kind is EmailKind.CONFIRMATION
            history = await handle.fetch_history()
            scheduled = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            assert [e.event_type for e in history.events].count(scheduled) == 1
        finally:
            await terminate_if_running(handle)
