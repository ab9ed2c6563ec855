"""The whole journey over HTTP: the app, a real worker, the real Temporal dev server,
real SQLite and a real SMTP server whose message carries the link the test follows."""

from __future__ import annotations

import re
import uuid

from temporalio.client import Client

from db.engine import make_engine
from db.queries import issued_gckey
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, text_of, until
from tests.journeys import PASSWORD
from tests.web_helpers import Browser, Page, browser, create_user_account, element, link_in, sign_up
from workflows.onboarding import OnboardingWorkflow
from workflows.types import LoginMethod, Step


async def test_whole_journey_in_english(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    smtp: MailCatcher,
    database_url: str,
) -> None:
    settings.database_url = database_url  # SQLite by default; PostgreSQL as in production
    username = f"Exp{uuid.uuid4().hex[:7]}"  # 8 hex characters may all be digits (7 at most)
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await sign_up(b, "en", username)
        assert page.h1 == "Your GCKey has been issued"
        engine = make_engine(settings.sqlalchemy_url)
        gckey = issued_gckey(engine, username)
        engine.dispose()
        assert gckey is not None and gckey.terms_accepted_at is not None
        assert (gckey.terms_version, gckey.terms_language) == (settings.terms_version, "en")
        assert gckey.login_method == "gckey"  # the first choice is the default access
        page = await b.submit(page, "issued")
        assert page.h1 == "Welcome to CERS"
        page = await create_user_account(b, "en", address, time_zone="America/Halifax")
        assert page.h1 == "Your user account is now created"
        urn = page.text("strong.urn")
        assert page.text(".who-urn").endswith(urn)
        (message,) = await smtp.wait_for(address)
        text = text_of(message)
        page = await b.get(link_in(text))
        page = await b.submit(page, "confirm")
        assert page.h1 == "Your e-mail address is confirmed"
        assert page.text(".who-urn") == f"URN: {urn}"  # on every signed-in page
        page = await b.get("/en/portal")
        assert "was confirmed on" in page.text(".status.ok")
        # Shown in the business time zone the user chose.
        assert re.search(r"\(Atlantic (Standard|Daylight) Time\)", page.text(".status.ok"))
        assert (
            "You are now ready to be linked to a CERS portal business account."
            in page.response.text
        )

        # A returning user signs in with the GCKey and lands on the portal.
        page = await b.submit(page, "sign-out")
        assert page.h1 == "You have signed out"
        page = await b.get("/en/gckey/sign-in")
        page = await b.submit(page, "sign-in", {"username": username.upper(), "password": "wrong"})
        assert page.status == 400
        assert page.field_error("sign_in") == (
            "Error: The username or password you entered is incorrect."
        )
        page = await b.submit(page, "sign-in", {"username": username, "password": PASSWORD})
        assert page.h1 == "CERS portal"
        assert page.text(".who-name") == "Jean Exporter"


async def test_bad_input_is_explained_and_nothing_typed_is_lost(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.get("/en/gckey/sign-in")
        page = await b.submit(page, "sign-up")
        assert page.text(".step-count") == "Sign Up Step 1 of 5"
        page = await b.submit(page, "terms", {"decision": "accept"})

        page = await b.submit(page, "username", {"username": "my name#1"})
        assert page.status == 400
        assert page.field_error("username").startswith("Error: Only letters")
        assert element(page.html, "#username").attributes["value"] == "my name#1"
        assert element(page.html, "#username").attributes["aria-invalid"] == "true"
        assert "username-error" in str(
            element(page.html, "#username").attributes["aria-describedby"]
        )
        assert page.texts(".checklist li.ok") == [
            "✓ Rule met: Between 8 and 16 characters",
            "✓ Rule met: No more than 7 digits",
        ]
        assert page.text(".error-summary a") == (
            "Username: Only letters (French letters allowed), digits and these special characters: "
            "$ % ^ : { } ~ ' ? / | & * _ - . ` ( ) [ ] !"
        )
        username = f"Élan{uuid.uuid4().hex[:6]}"
        page = await b.submit(page, "username", {"username": username})
        assert page.h1 == "Create Your Password"

        page = await b.submit(page, "password", {"password": f"X{username[:3]}yz12345"})
        assert page.status == 400
        assert page.field_error("password") == (
            "Error: No 3 or more consecutive characters from your username"
        )
        assert element(page.html, "#password").attributes["value"] == ""  # never sent back
        page = await b.submit(page, "password", {"password": PASSWORD, "confirmation": "Other1aa"})
        assert page.field_error("confirmation") == "Error: The two passwords must match"
        page = await b.submit(page, "password", {"password": PASSWORD, "confirmation": PASSWORD})
        assert page.h1 == "Create Recovery Questions, Answers and Hints"

        page = await b.submit(
            page,
            "recovery",
            {
                "question": ["first_pet", "first_pet", "first_car"],
                "answer": ["Rex", "ab", "Lada"],
                "hint": ["my Rex", "", ""],
            },
        )
        assert page.status == 400
        assert page.field_error("question_1") == (
            "Error: Choose a different question for each answer."
        )
        assert page.field_error("answer_1") == (
            "Error: The answer is too short: use at least the number of characters shown above."
        )
        assert page.field_error("hint_0") == "Error: The hint must not contain the answer."
        assert element(page.html, "#hint_0").attributes["value"] == "my Rex"
        assert element(page.html, "#answer_0").attributes.get("value") is None


async def test_declining_the_terms_ends_the_journey(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.get("/en/gckey/sign-in")
        page = await b.submit(page, "sign-up")
        page = await b.submit(page, "terms", {"decision": "decline"})
        assert page.h1 == "You declined the Terms and Conditions"
        page = await b.get("/en/gckey/username")
        assert page.h1 == "Welcome to the Canadian Export Reporting System (CERS)"


async def test_closing_the_browser_resumes_at_the_same_step(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings):
        async with browser(settings, client) as first:
            page = await first.get("/en/gckey/sign-in")
            page = await first.submit(page, "sign-up")
            page = await first.submit(page, "terms", {"decision": "accept"})
            username = f"Resume{uuid.uuid4().hex[:6]}"
            page = await first.submit(page, "username", {"username": username})
            cookies = first.http.cookies
        async with browser(settings, client) as second:
            second.http.cookies = cookies  # the persistent cookie survives a browser restart
            page = await second.get("/en/login")
            assert "You have a GCKey sign-up in progress" in page.text(".notice")
            page = await second.get(element(page.html, ".notice a").attributes["href"] or "")
            assert page.h1 == "Create Your Password"
            assert page.text(".step-count") == "Sign Up Step 3 of 5"


async def test_signed_in_session_ends_after_20_idle_minutes(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    now = [1_000_000.0]
    async with new_worker(client, settings), browser(settings, client, lambda: now[0]) as b:
        page = await sign_up(b, "en", f"Idle{uuid.uuid4().hex[:6]}")
        page = await b.submit(page, "issued")
        assert page.h1 == "Welcome to CERS"
        now[0] += 19 * 60
        page = await b.get("/en/cers/account")
        assert page.h1 == "Create User Account"
        now[0] += 21 * 60
        page = await b.get("/en/cers/account")
        assert page.h1 == "Welcome to GCKey"
        assert "20 minutes without activity" in page.text(".notice")


async def test_expired_link_gets_a_clear_page_and_a_new_link(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    settings.expire_after_hours = 4 / 3600  # four seconds, on the real server's clock
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await sign_up(b, "en", f"Late{uuid.uuid4().hex[:6]}")
        page = await b.submit(page, "issued")
        page = await create_user_account(
            b, "en", address, given_name="Lou", family_name="Tardif", time_zone="America/Regina"
        )
        (first,) = await smtp.wait_for(address)
        old_link = link_in(text_of(first))

        async def expired() -> bool:
            portal = await b.get("/en/portal")
            return "has expired" in portal.response.text

        await until(expired, what="the link to expire")
        page = await b.get(old_link)
        page = await b.submit(page, "confirm")
        assert page.status == 410
        assert page.h1 == "This confirmation link has expired"
        page = await b.submit(page, "new-link")
        assert page.h1 == "A new link is on its way"
        _, second = await smtp.wait_for(address, count=2)
        new_link = link_in(text_of(second))
        assert new_link != old_link

        page = await b.submit(await b.get(old_link), "confirm")
        assert page.h1 == "This confirmation link has been replaced"
        page = await b.submit(await b.get(new_link), "confirm")
        assert page.h1 == "Your e-mail address is confirmed"
        page = await b.submit(await b.get(new_link), "confirm")
        assert page.h1 == "Your e-mail address is already confirmed"


async def test_the_sign_in_partner_click_starts_nothing_and_gckey_stays_open(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """A journey starts only once the Sign-In Partner answers with an identity this service
    does not know (tests/test_partner.py); the click itself starts none."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.get("/en/login")
        page = await b.submit(page, "sign-in-partner")
        assert page.h1 == "Sign-In Partner Log In is not available"  # none configured here
        assert "journey" not in b.session()

        page = await b.get("/en/gckey/sign-in")
        page = await b.submit(page, "sign-up")
        assert page.h1 == "Terms and Conditions of Use"
        workflow_id = b.session_journey()
        # Pressing the Sign-In Partner again from the terms changes nothing on the journey.
        page = await b.submit(await b.get("/en/login"), "sign-in-partner")
        assert page.h1 == "Sign-In Partner Log In is not available"
        assert b.session_journey() == workflow_id
        state = await client.get_workflow_handle(workflow_id).query(OnboardingWorkflow.journey)
        assert state.login_method is LoginMethod.GCKEY and state.step is Step.TERMS


async def test_pages_are_not_cached_and_leak_no_referrer(
    client: Client, settings: Settings
) -> None:
    async with browser(settings, client) as b:
        page = await b.get("/fr/login")
        assert page.response.headers["Referrer-Policy"] == "no-referrer"
        assert page.response.headers["Cache-Control"] == "no-store"
        cookie = page.response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert element(page.html, "html").attributes["lang"] == "fr"
        toggle = element(page.html, ".lang-toggle a")
        assert toggle.attributes["href"] == "http://testserver/en/login"
        assert toggle.attributes["lang"] == "en"
        # The same page in the other language, its query kept as sent.
        page = await b.get("/en/login?from=toggle&x=%C3%A9")
        toggle = element(page.html, ".lang-toggle a")
        assert toggle.attributes["href"] == "http://testserver/fr/login?from=toggle&x=%C3%A9"


async def test_a_worker_down_gets_a_clear_page_and_the_step_goes_through_later(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    settings.temporal_rpc_timeout_seconds = 1
    async with browser(settings, client) as b:
        page = await b.get("/en/gckey/sign-in")
        failed = await b.submit(page, "sign-up")  # no worker polls this task queue yet
        assert failed.status == 503
        assert failed.h1 == "Something went wrong"
        assert "Nothing you entered before has been lost." in failed.response.text
        async with new_worker(client, settings):
            page = await b.submit(page, "sign-up")
            assert page.h1 == "Terms and Conditions of Use"


async def test_a_page_whose_query_times_out_gets_the_clear_page_not_a_500(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Found by the load benchmark: a query past the site's deadline answers CANCELLED
    ("Timeout expired"), which the site showed as a bare 500."""
    settings.temporal_rpc_timeout_seconds = 1
    async with browser(settings, client) as b:
        async with new_worker(client, settings):
            page = await b.submit(await b.get("/en/gckey/sign-in"), "sign-up")
            assert page.h1 == "Terms and Conditions of Use"
        # /resume asks Temporal where the journey stands; with the worker gone, no answer.
        failed = await b.get("/en/resume")
        assert failed.status == 503
        assert failed.h1 == "Something went wrong"
        assert "Nothing you entered before has been lost." in failed.response.text


async def test_an_unknown_address_gets_a_404_page_in_its_language(
    client: Client, settings: Settings
) -> None:
    async with browser(settings, client) as b:
        page = await b.get("/fr/no-such-page")
        assert page.status == 404
        assert page.h1 == "Page introuvable"


async def test_a_form_without_its_csrf_token_is_refused(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings), browser(settings, client) as b:
        await b.get("/fr/gckey/sign-in")
        forged = Page(await b.http.post("/fr/gckey/sign-up", data={"csrf_token": "forged"}))
        assert forged.status == 403
        assert forged.h1 == "Ce formulaire a expiré"
        assert "journey" not in b.session()  # no journey was started


async def test_a_returning_user_lands_where_their_journey_stands(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    username = f"Back{uuid.uuid4().hex[:6]}"
    address = f"{uuid.uuid4().hex[:8]}@example.ca"

    async def sign_in_again(b: Browser) -> Page:
        page = await b.submit(await b.get("/fr/cers/welcome"), "sign-out")
        page = await b.get("/fr/gckey/sign-in")
        return await b.submit(page, "sign-in", {"username": username, "password": PASSWORD})

    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.submit(await sign_up(b, "fr", username), "issued")
        page = await sign_in_again(b)
        assert page.h1 == "Bienvenue dans le SCDE"  # GCKey issued: Create User Account next
        page = await create_user_account(
            b, "fr", address, given_name="Zoé", family_name="Retour", time_zone="America/Winnipeg"
        )
        await smtp.wait_for(address)
        page = await sign_in_again(b)
        assert page.h1 == "Portail du SCDE"  # account made, e-mail not yet confirmed
        assert page.text(".who-name") == "Zoé Retour"
        assert address in page.text(".status.pending")
        assert page.html.css_first("form[action='http://testserver/fr/portal/new-link']")
