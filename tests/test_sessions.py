"""Sessions are kept on the server and end when they should: a copied cookie is worth nothing
after sign-out, a password reset, a support unlock or a disabled staff account; the idle
window and the absolute lifetime hold for every session; the sign-up cookie is no credential.
Each test plays the attacker who copied a cookie, over HTTP against the real stack."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client

from db.engine import make_engine
from db.staff import disable_staff_member
from settings import Settings
from tests.conftest import NewWorker
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Browser, Page, answers_for, browser, sign_up
from web.session_middleware import COOKIE

NEW_PASSWORD = "Wombat5Kiwi"


@asynccontextmanager
async def holding(settings: Settings, client: Client, cookie: str) -> AsyncIterator[Browser]:
    """Another browser (and another web process) presenting a copied session cookie."""
    async with browser(settings, client) as other:
        other.http.cookies.set(COOKIE, cookie, domain="testserver.local")
        yield other


def cookie_of(b: Browser) -> str:
    value = b.http.cookies.get(COOKIE)
    assert value
    return value


async def signed_in_page(b: Browser) -> Page:
    """Where a signed-in person lands; a signed-out one gets GCKey Sign In."""
    return await b.get("/en/cers")


async def test_the_cookie_is_an_opaque_id_and_the_session_lives_on_the_server(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await sign_up(b, "en", f"Opaque{uuid.uuid4().hex[:6]}")
        workflow_id = b.session()["journey"]
        cookie = cookie_of(b)
        assert workflow_id not in cookie and "journey" not in cookie and "." not in cookie
        set_cookie = page.response.history[-1].headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
        assert "Secure" not in set_cookie  # http://testserver: no HTTPS to insist on


async def test_secure_cookies_when_the_site_is_https(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    settings.public_url = "https://testserver"
    async with browser(settings, client) as b:
        page = await b.get("/en/login")
        assert "; Secure" in page.response.headers["set-cookie"]


async def test_sign_out_ends_the_session_at_once(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await sign_up(b, "en", f"Leave{uuid.uuid4().hex[:6]}")
        page = await b.submit(page, "issued")
        assert page.h1 == "Welcome to CERS"
        copied = cookie_of(b)
        async with holding(settings, client, copied) as thief:
            assert (await signed_in_page(thief)).h1 == "Welcome to CERS"  # the copy works...
            await b.submit(page, "sign-out")
            page = await signed_in_page(thief)  # ...until the owner signs out
            assert page.h1 == "Welcome to GCKey"
            assert "auth" not in thief.session()


async def test_a_password_reset_ends_every_session_of_the_gckey(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    username = f"Reset{uuid.uuid4().hex[:6]}"
    async with new_worker(client, settings), browser(settings, client) as owner:
        page = await sign_up(owner, "en", username)
        page = await owner.submit(page, "issued")
        copied = cookie_of(owner)
        async with holding(settings, client, copied) as thief, browser(settings, client) as b:
            assert (await signed_in_page(thief)).h1 == "Welcome to CERS"
            page = await b.submit(
                await b.get("/en/gckey/forgot-password"), "forgot-password", {"username": username}
            )
            page = await b.submit(page, "way", {"way": "all_answers"})
            page = await b.submit(page, "verify", {"answer": answers_for(page)})
            page = await b.submit(
                page, "new-password", {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
            )
            assert page.h1 == "Your password has been changed"
            assert (await signed_in_page(thief)).h1 == "Welcome to GCKey"
            assert (await signed_in_page(owner)).h1 == "Welcome to GCKey"
            assert "auth" not in thief.session() and "auth" not in owner.session()


async def test_a_support_unlock_ends_every_session_of_the_gckey(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    settings.lock_after_failures = 2
    staff = Staff(settings)
    username = f"Unlock{uuid.uuid4().hex[:6]}"
    async with new_worker(client, settings), browser(settings, client) as owner:
        page = await sign_up(owner, "en", username)
        page = await owner.submit(page, "issued")
        journey_id = owner.session()["journey"].removeprefix("onboarding-")
        async with browser(settings, client) as guesser, browser(settings, client) as ana:
            for _ in range(2):
                await guesser.submit(
                    await guesser.get("/en/gckey/sign-in"),
                    "sign-in",
                    {"username": username, "password": "Wrong7Password"},
                )
            await staff_sign_in(ana, staff.support)
            page = await ana.get(f"/en/staff/journeys/{journey_id}")
            page = await ana.submit(
                page, "unlock_gckey", {"reason": "Identity checked by telephone"}
            )
            assert page.status == 200
        assert (await signed_in_page(owner)).h1 == "Welcome to GCKey"
        assert "auth" not in owner.session()


async def test_disabling_a_staff_account_ends_its_sessions(
    client: Client, settings: Settings
) -> None:
    staff = Staff(settings)
    async with browser(settings, client) as ana:
        page = await staff_sign_in(ana, staff.support)
        assert page.h1 == "Onboarding journeys"
        assert "staff" in ana.session()
        engine = make_engine(settings.sqlalchemy_url)
        disable_staff_member(engine, staff.support)
        engine.dispose()
        assert ana.session() == {}  # the row is gone, not merely refused on the next click
        page = await ana.get("/en/staff/journeys")
        assert page.h1 != "Onboarding journeys"


async def test_a_signed_in_session_ends_at_its_absolute_lifetime_however_active(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    settings.session_max_hours = 1
    now = [1_000_000.0]
    async with new_worker(client, settings), browser(settings, client, lambda: now[0]) as b:
        page = await sign_up(b, "en", f"Long{uuid.uuid4().hex[:6]}")
        page = await b.submit(page, "issued")
        for _ in range(3):  # a click every 15 minutes: never idle
            now[0] += 15 * 60
            assert (await signed_in_page(b)).h1 == "Welcome to CERS"
        now[0] += 15 * 60 + 1  # past one hour since the sign-in
        page = await signed_in_page(b)
        assert page.h1 == "Welcome to GCKey"


async def test_an_idle_sign_up_gets_a_new_session_and_keeps_its_journey(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    now = [1_000_000.0]
    async with new_worker(client, settings), browser(settings, client, lambda: now[0]) as b:
        page = await b.submit(await b.get("/en/gckey/sign-in"), "sign-up")
        page = await b.submit(page, "terms", {"decision": "accept"})
        assert page.h1 == "Create Your Username"
        journey = b.session()["journey"]
        before = cookie_of(b)
        now[0] += 21 * 60
        page = await b.get("/en/login")
        assert "You have a GCKey sign-up in progress" in page.text(".notice")
        assert cookie_of(b) != before  # the idle session ended: a copy of it opens nothing
        assert b.session()["journey"] == journey
        async with holding(settings, client, before) as thief:
            page = await thief.get("/en/gckey/username")
            assert page.h1 != "Create Your Username" and "journey" not in thief.session()


async def test_continue_after_step_5_signs_in_once_and_only_in_that_session(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings), browser(settings, client) as b:
        issued = await sign_up(b, "fr", f"Suite{uuid.uuid4().hex[:6]}")
        assert issued.h1 == "Votre CléGC a été délivrée"
        copied = cookie_of(b)
        page = await b.submit(issued, "issued")
        assert page.h1 == "Bienvenue dans le SCDE"
        async with holding(settings, client, copied) as thief:
            # The owner's Continue renewed the session: the copy is dead, its form signs no
            # one in; it is sent to sign in with a password, as anyone else.
            page = await thief.submit(issued, "issued")
            assert page.url.endswith("/fr/gckey/sign-in") and "auth" not in thief.session()
            assert (await thief.get("/fr/cers")).h1 == "Bienvenue à CléGC"


async def test_continue_is_no_credential_for_a_copy_taken_before_it(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings), browser(settings, client) as b:
        issued = await sign_up(b, "en", f"Copy{uuid.uuid4().hex[:6]}")
        async with holding(settings, client, cookie_of(b)) as thief:
            page = await thief.submit(issued, "issued")  # the thief is first: once, then gone
            assert page.h1 == "Welcome to CERS"
        page = await b.submit(issued, "issued")  # the owner's copy of the session is dead
        assert page.url.endswith("/en/gckey/sign-in") and "auth" not in b.session()


async def test_continue_expires_with_the_idle_window_after_issuance(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    now = [1_000_000.0]
    async with new_worker(client, settings), browser(settings, client, lambda: now[0]) as b:
        issued = await sign_up(b, "en", f"Slow{uuid.uuid4().hex[:6]}")
        for _ in range(2):  # the issued page kept open and reloaded: never idle...
            now[0] += 11 * 60
            assert (await b.get("/en/gckey/issued")).h1 == "Your GCKey has been issued"
        page = await b.submit(issued, "issued")  # ...but 22 minutes after issuance
        assert page.h1 == "Welcome to GCKey" and "auth" not in b.session()
