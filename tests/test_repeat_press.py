"""Pressing a button again is safe (issue 13): every form carries a form id that becomes its
Temporal update id, so a second press of the same form, after an answer that was lost, gets
the first press's outcome and lands on the page that step leads to. Each test posts the same
form twice over real HTTP, with a real worker behind the site."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client

from db.models import WebSession
from db.sessions import load_session, save_session
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, text_of
from tests.journeys import PASSWORD, journey_handle
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import (
    ANSWERS,
    Browser,
    Page,
    browser,
    create_user_account,
    link_in,
    sign_up,
)
from web.forms import new_form_id, read_form_id
from web.journeys import journey_id_of
from web.session_middleware import COOKIE
from workflows.onboarding import OnboardingWorkflow
from workflows.types import Step


def new_username() -> str:
    return f"Again{uuid.uuid4().hex[:6]}"


async def press_twice(b: Browser, page: Page, action: str, data: dict[str, Any]) -> Page:
    """The same form posted twice, as a person does whose first answer never came back."""
    form_action, fields = page.form(action)
    await b.http.post(form_action, data={**fields, **data})
    return Page(await b.http.post(form_action, data={**fields, **data}))


def lose_the_session_write(engine: Engine, b: Browser, before: WebSession) -> None:
    """As if the web process died after Temporal took the step but before the session was
    saved: the server-side session goes back to what it held before the press."""
    session_id = b.http.cookies.get(COOKIE)
    assert session_id
    save_session(engine, session_id, WebSession(**before.model_dump()))


async def to_step(b: Browser, step: str, username: str) -> Page:
    """Sign Up over the site up to (not through) ``step``."""
    page = await b.get("/en/gckey/sign-in")
    page = await b.submit(page, "sign-up")
    order = ["terms", "username", "password", "recovery", "recovery-email"]
    data: dict[str, dict[str, Any]] = {
        "terms": {"decision": "accept"},
        "username": {"username": username},
        "password": {"password": PASSWORD, "confirmation": PASSWORD},
        "recovery": {
            "question": list(ANSWERS),
            "answer": list(ANSWERS.values()),
            "hint": ["", "", ""],
        },
    }
    for name in order[: order.index(step)]:
        page = await b.submit(page, name, data[name])
    return page


STEP_DATA: dict[str, dict[str, Any]] = {
    "terms": {"decision": "accept"},
    "password": {"password": PASSWORD, "confirmation": PASSWORD},
    "recovery": {
        "question": list(ANSWERS),
        "answer": list(ANSWERS.values()),
        "hint": ["", "", ""],
    },
}


async def test_the_last_sign_up_step_pressed_twice_issues_and_signs_in(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Issue 13, bug 1: the second press went to the login page; the person never saw their
    GCKey issued and was not signed in."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await to_step(b, "recovery-email", new_username())
        page = await press_twice(b, page, "recovery-email", {"email": "again@example.com"})
        assert page.url.endswith("/en/gckey/issued")
        assert page.h1 == "Your GCKey has been issued"
        page = await b.submit(page, "issued")
        assert "auth" in b.session()
        assert page.url.endswith("/en/cers/welcome")


async def test_continue_pressed_twice_stays_signed_in(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Continue's first press ends the session its form was made in: the second press carries
    a token no session holds. It must land where Continue leads, signed in, not on "This form
    has expired" (found by benchmarks/chaos.py pressing every button twice)."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await to_step(b, "recovery-email", new_username())
        page = await b.submit(page, "recovery-email", {"email": "again@example.com"})
        page = await press_twice(b, page, "issued", {})
        assert page.status == 200
        assert page.url.endswith("/en/cers/welcome")
        assert "auth" in b.session()


async def test_continue_pressed_again_after_its_session_ended_goes_to_sign_in(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """The first answer lost: the browser still holds the old session's cookie, which opens
    nothing now. The GCKey exists, so the person is sent to sign in with it, and the old
    cookie signs nobody in."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await to_step(b, "recovery-email", new_username())
        page = await b.submit(page, "recovery-email", {"email": "again@example.com"})
        (old,) = [c for c in b.http.cookies.jar if c.name == COOKIE]
        action, fields = page.form("issued")
        await b.http.post(action, data=fields)
        b.http.cookies.clear()
        b.http.cookies.jar.set_cookie(old)
        again = Page(await b.http.post(action, data=fields))
        assert again.status == 200
        assert again.url.endswith("/en/gckey/sign-in")
        assert "auth" not in b.session()


async def test_a_sign_up_whose_answer_was_lost_joins_the_journey_it_started(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Issue 13, bug 2: the retry of a sign-up whose start went through made a new journey,
    leaving an orphan at the terms."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.get("/en/gckey/sign-in")
        session_id = b.http.cookies.get(COOKIE)
        assert session_id
        before = load_session(b.engine, session_id)
        assert before is not None
        action, fields = page.form("sign-up")
        first = Page(await b.http.post(action, data=fields))
        assert first.url.endswith("/en/gckey/terms")
        started = b.session_journey()
        lose_the_session_write(b.engine, b, before)
        assert "journey" not in b.session()
        second = Page(await b.http.post(action, data=fields))
        assert second.url.endswith("/en/gckey/terms")
        assert b.session_journey() == started


async def test_every_sign_up_step_pressed_twice_lands_on_the_next_step(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Terms, username, password and recovery answers: the second press lands where the first
    led, and the username the person chose is theirs, not "already used"."""
    lands = {
        "terms": "/en/gckey/username",
        "username": "/en/gckey/password",
        "password": "/en/gckey/recovery",
        "recovery": "/en/gckey/recovery-email",
    }
    async with new_worker(client, settings):
        for step, lands_on in lands.items():
            username = new_username()
            async with browser(settings, client) as b:
                page = await to_step(b, step, username)
                data = STEP_DATA.get(step, {"username": username})
                page = await press_twice(b, page, step, data)
                assert page.status == 200, step
                assert page.url.endswith(lands_on), (step, page.url)
                assert not page.texts(".error-message"), step


async def test_a_repeat_after_the_journey_moved_on_shows_where_it_stands(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """The Back button to the terms, pressed again after the username: Temporal answers with
    the first (older) result; the page is the step the journey is at now, not the terms'."""
    async with new_worker(client, settings), browser(settings, client) as b:
        terms = await to_step(b, "terms", "")
        page = await b.submit(terms, "terms", {"decision": "accept"})
        page = await b.submit(page, "username", {"username": new_username()})
        assert page.url.endswith("/en/gckey/password")
        again = await b.submit(terms, "terms", {"decision": "accept"})
        assert again.url.endswith("/en/gckey/password")


async def test_create_user_account_pressed_twice_shows_the_account_created(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    email = f"twice-{uuid.uuid4().hex[:6]}@example.com"
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await sign_up(b, "en", new_username())
        await b.submit(page, "issued")
        page = await b.get("/en/cers/account")
        fields = {
            "given_name": "Jean",
            "family_name": "Exporter",
            "email": email,
            "telephone": "",
            "time_zone": "America/Toronto",
            "language": "en",
        }
        page = await press_twice(b, page, "account", fields)
        assert page.h1 == "Your user account is now created"
        messages = await smtp.wait_for(email)
        assert len(messages) == 1


async def test_the_confirmation_pressed_twice_confirms_once_and_says_so(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    email = f"confirm-{uuid.uuid4().hex[:6]}@example.com"
    async with new_worker(client, settings), browser(settings, client) as b:
        await b.submit(await sign_up(b, "en", new_username()), "issued")
        await create_user_account(b, "en", email)
        (message,) = await smtp.wait_for(email)
        page = await b.get(link_in(text_of(message)))
        page = await press_twice(b, page, "confirm", {})
        assert page.status == 200
        assert page.h1 == "Your e-mail address is confirmed"


async def test_a_new_link_pressed_twice_sends_one_link(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    email = f"newlink-{uuid.uuid4().hex[:6]}@example.com"
    async with new_worker(client, settings), browser(settings, client) as b:
        await b.submit(await sign_up(b, "en", new_username()), "issued")
        await create_user_account(b, "en", email)
        await smtp.wait_for(email)
        page = await b.get("/en/portal")
        page = await press_twice(b, page, "new-link", {})
        assert page.url.endswith("/en/portal")
        handle = client.get_workflow_handle(b.session_journey())
        state = await handle.query(OnboardingWorkflow.journey)
        assert state.link_number == 2
        await smtp.wait_for(email, 2)
        assert len(smtp.to(email)) == 2


async def test_a_support_action_pressed_twice_acts_once(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """Resend the confirmation pressed twice sends one new link, and the second press says
    done rather than "not possible"; cancel likewise."""
    staff = Staff(settings)
    email = f"desk-{uuid.uuid4().hex[:6]}@example.com"
    async with (
        new_worker(client, settings),
        browser(settings, client) as b,
        browser(settings, client) as desk,
    ):
        await b.submit(await sign_up(b, "en", new_username()), "issued")
        await create_user_account(b, "en", email)
        await smtp.wait_for(email)
        workflow_id = b.session_journey()
        journey_id = journey_id_of(workflow_id)
        await staff_sign_in(desk, staff.support)
        page = await desk.get(f"/en/staff/journeys/{journey_id}")
        reason = {"reason": "Caller asked twice"}
        page = await press_twice(desk, page, "resend_confirmation", reason)
        assert page.status == 200
        assert "done=resend_confirmation" in page.url
        state = await client.get_workflow_handle(workflow_id).query(OnboardingWorkflow.journey)
        assert state.link_number == 2
        page = await press_twice(desk, page, "cancel", reason)
        assert page.status == 200
        assert "done=cancel" in page.url


async def test_a_captured_form_id_drives_nobody_elses_journey(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Someone who copies a person's Sign Up form (its form id) into their own session gets a
    journey of their own, not the person's; and a form id without the CSRF token is refused."""
    async with (
        new_worker(client, settings),
        browser(settings, client) as person,
        browser(settings, client) as other,
    ):
        page = await person.get("/en/gckey/sign-in")
        action, fields = page.form("sign-up")
        await person.http.post(action, data=fields)
        theirs = person.session_journey()
        _, own = (await other.get("/en/gckey/sign-in")).form("sign-up")
        copied = Page(
            await other.http.post(action, data={**fields, "csrf_token": own["csrf_token"]})
        )
        assert copied.url.endswith("/en/gckey/terms")
        assert other.session_journey() != theirs
        refused = await other.http.post(action, data={"form_id": fields["form_id"]})
        assert refused.status_code == 403
        state = await client.get_workflow_handle(theirs).query(OnboardingWorkflow.journey)
        assert state.step is Step.TERMS


async def test_a_form_of_an_ended_journey_starts_a_new_one(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Declined at the terms, then the same Sign Up form pressed again (the Back button): the
    declined journey is not started again under its id; a new journey begins."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.get("/en/gckey/sign-in")
        action, fields = page.form("sign-up")
        terms = Page(await b.http.post(action, data=fields))
        declined_id = b.session_journey()
        page = await b.submit(terms, "terms", {"decision": "decline"})
        handle = journey_handle(client, declined_id)
        assert (await handle.result()).step is Step.DECLINED
        again = Page(await b.http.post(action, data=fields))
        assert again.url.endswith("/en/gckey/terms")
        assert b.session_journey() != declined_id
        assert (await handle.result()).step is Step.DECLINED


def test_a_form_id_is_good_only_for_its_session_and_its_form() -> None:
    """Signed with the session's CSRF token and the form's purpose: another session's id,
    another form's, a forged or mangled one, is no id (that press is a fresh update)."""
    mine, theirs = "csrf-of-this-session", "csrf-of-another-session"
    sent = new_form_id(mine, "recovery_email")
    good = read_form_id(mine, "recovery_email", sent)
    assert good.update_id is not None and good.update_id.startswith("recovery_email-")
    assert good.workflow_id() == read_form_id(mine, "recovery_email", sent).workflow_id()
    nonce = sent.partition(".")[0]
    for key, purpose, value in [
        (theirs, "recovery_email", sent),
        (mine, "terms", sent),
        (mine, "recovery_email", f"{nonce}.AAAAAAAAAAAAAAAAAAAAAA"),
        (mine, "recovery_email", sent + "x" * 100),
        (mine, "recovery_email", "\udcff." + sent),
        (None, "recovery_email", sent),
    ]:
        refused = read_form_id(key, purpose, value)
        assert refused.update_id is None and refused.workflow_id() is None


async def test_an_old_form_pressed_after_the_idle_window_shows_where_the_journey_stands(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """The session ended in its idle window and a new one carried the journey on; the terms
    form, still open, pressed again: Temporal answers with the first (older) result, which
    must not become what the new session believes."""
    skipped = [0.0]
    async with (
        new_worker(client, settings),
        browser(settings, client, lambda: time.time() + skipped[0]) as b,
    ):
        terms = await to_step(b, "terms", "")
        page = await b.submit(terms, "terms", {"decision": "accept"})
        page = await b.submit(page, "username", {"username": new_username()})
        assert page.url.endswith("/en/gckey/password")
        skipped[0] += settings.session_idle_minutes * 60 + 1
        again = await b.submit(terms, "terms", {"decision": "accept"})
        assert again.url.endswith("/en/gckey/password")
