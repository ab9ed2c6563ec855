"""The Sign-In Partner path against the real stand-in provider process (tests/broker_process):
first visit, second visit, the default-access rule, and every way the partner can fail."""

from __future__ import annotations

import uuid
from typing import TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from pydantic import SecretStr
from sqlmodel import Session, SQLModel, select
from temporalio.client import Client

from db.engine import make_engine
from db.models import PartnerIdentity, UserAccount
from settings import Settings
from tests.broker_process import Broker, cancel_sign_in, decline_terms, fresh_login, sign_in
from tests.conftest import MailCatcher, NewWorker, until
from tests.web_helpers import Browser, Page, browser, create_user_account, sign_up
from workflows.onboarding import OnboardingWorkflow
from workflows.types import LoginMethod, Step


@pytest.fixture
def partner_settings(settings: Settings, broker: Broker) -> Settings:
    settings.partner_issuer = broker.issuer
    settings.partner_client_id = broker.client_id
    settings.partner_client_secret = SecretStr(broker.client_secret)
    return settings


async def to_partner(b: Browser, lang: str = "en") -> str:
    """Presses "Sign-In Partner Log In": the URL the browser is sent to at the provider."""
    page = await b.get(f"/{lang}/login")
    action, fields = page.form("sign-in-partner")
    response = await b.http.post(action, data=fields, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    return response.headers["location"]


async def back_from_partner(b: Browser, callback: str) -> Page:
    assert callback.startswith("http://testserver/partner/callback?"), callback
    return await b.get(callback)


async def journeys_started(client: Client, settings: Settings) -> list[str]:
    """The journeys this test's site started (its own task queue), as Temporal lists them."""
    query = f"WorkflowType = 'OnboardingWorkflow' AND TaskQueue = '{settings.task_queue}'"
    return [w.id async for w in client.list_workflows(query)]


async def only_journey(client: Client, settings: Settings, workflow_id: str) -> None:
    """Once Temporal lists the journey, it is the only one the clicks made."""

    async def listed() -> bool:
        return workflow_id in await journeys_started(client, settings)

    await until(listed, what="the journey in Temporal's list")
    assert await journeys_started(client, settings) == [workflow_id]


Row = TypeVar("Row", bound=SQLModel)


def rows(settings: Settings, model: type[Row]) -> list[Row]:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(model)))
    finally:
        engine.dispose()


async def test_first_visit_makes_the_account_and_a_second_lands_on_the_portal(
    client: Client,
    partner_settings: Settings,
    new_worker: NewWorker,
    smtp: MailCatcher,
    database_url: str,
) -> None:
    settings = partner_settings
    settings.database_url = database_url
    login = fresh_login()
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    async with new_worker(client, settings), browser(settings, client) as b:
        authorize = await to_partner(b, "fr")
        query = parse_qs(urlsplit(authorize).query)
        # The code flow with PKCE (S256), state and nonce, in the person's language.
        assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
        assert query["state"] and query["nonce"] and query["code_challenge"]
        assert query["ui_locales"] == ["fr"]
        page = await back_from_partner(b, await sign_in(authorize, login=login))
        assert page.h1 == "Bienvenue dans le SCDE"  # first time: Create User Account next
        workflow_id = b.session_journey()
        state = await client.get_workflow_handle(workflow_id).query(OnboardingWorkflow.journey)
        assert state.login_method is LoginMethod.SIGN_IN_PARTNER
        assert state.step is Step.CREATE_ACCOUNT and state.gckey_issued_at is None
        page = await create_user_account(
            b, "fr", address, given_name="Élise", family_name="Banque", time_zone="America/Montreal"
        )
        assert page.h1 == "Votre compte d'utilisateur est maintenant créé"
        (message,) = await smtp.wait_for(address)
        assert message["Subject"] == "Confirmez votre adresse courriel pour le SCDE"

        # What CERS keeps: the provider and its pairwise id, never the bank or the login.
        (identity,) = [r for r in rows(settings, PartnerIdentity) if r.journey_id in workflow_id]
        assert identity.issuer == settings.partner_issuer
        assert login not in identity.subject and "demo" not in identity.subject
        (account,) = [r for r in rows(settings, UserAccount) if r.email == address]
        assert account.default_access == "sign_in_partner"

        page = await b.submit(page, "sign-out")
        page = await back_from_partner(b, await sign_in(await to_partner(b, "fr"), login=login))
        assert page.h1 == "Portail du SCDE"
        assert page.text(".who-name") == "Élise Banque"
        assert b.session()["auth"] == workflow_id
        # The second visit's click started no journey left waiting for the Sign-In Partner.
        await only_journey(client, settings, workflow_id)


async def test_a_gckey_user_coming_back_through_a_partner_is_not_merged(
    client: Client, partner_settings: Settings, new_worker: NewWorker
) -> None:
    settings = partner_settings
    username = f"Gck{uuid.uuid4().hex[:7]}"  # 8 hex characters may all be digits (7 at most)
    async with new_worker(client, settings), browser(settings, client) as b:
        await b.submit(await sign_up(b, "en", username), "issued")  # signs in
        workflow_id = b.session()["auth"]
        page = await back_from_partner(b, await sign_in(await to_partner(b)))
        assert page.status == 409
        assert page.h1 == "Your access to CERS is through your first choice"
        assert "GCKey is your default access" in page.text("main")
        state = await client.get_workflow_handle(workflow_id).query(OnboardingWorkflow.journey)
        assert state.partner_attempts == 1 and state.last_partner_attempt_at is not None
        assert state.login_method is LoginMethod.GCKEY
        assert not [r for r in rows(settings, PartnerIdentity) if r.journey_id in workflow_id]
        assert b.session()["auth"] == workflow_id  # still signed in with the GCKey


async def test_cancelling_or_declining_at_the_partner_makes_nothing(
    client: Client, partner_settings: Settings, new_worker: NewWorker
) -> None:
    settings = partner_settings
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await back_from_partner(b, await cancel_sign_in(await to_partner(b)))
        assert page.status == 400
        assert page.h1 == "You did not log in with your Sign-In Partner"
        page = await back_from_partner(b, await decline_terms(await to_partner(b, "fr")))
        assert page.h1 == "Vous ne vous êtes pas connecté avec votre partenaire de connexion"
        # Nothing behind: no journey in this browser, none in Temporal, nothing stored.
        assert "journey" not in b.session() and "auth" not in b.session()
        assert await journeys_started(client, settings) == []
        assert rows(settings, PartnerIdentity) == [] and rows(settings, UserAccount) == []
        # Trying again later works from the login page.
        page = await back_from_partner(b, await sign_in(await to_partner(b)))
        assert page.h1 == "Welcome to CERS"
        await only_journey(client, settings, b.session_journey())
    assert len(rows(settings, PartnerIdentity)) == 1  # only the one that went through


async def test_a_tampered_state_or_a_replayed_code_is_refused(
    client: Client, partner_settings: Settings, new_worker: NewWorker
) -> None:
    settings = partner_settings
    async with new_worker(client, settings), browser(settings, client) as b:
        callback = await sign_in(await to_partner(b))
        query = parse_qs(urlsplit(callback).query)
        forged = {"code": query["code"][0], "state": "not-the-state-we-sent"}
        page = await b.get(f"/partner/callback?{urlencode(forged)}")
        assert page.status == 400 and page.h1 == "This Sign-In Partner log in has expired"

        # Someone who captured the callback and the cookie before it was used replays both
        # after the real sign-in: the sign-in renewed the session, so the captured cookie
        # holds no state any more (and the provider would refuse the used code besides:
        # tests/test_broker.py).
        cookie = b.http.cookies.get("cers_session")
        page = await back_from_partner(b, callback)
        assert page.h1 == "Welcome to CERS"
        journey = b.session_journey()
        b.http.cookies.clear()
        b.http.cookies.set("cers_session", cookie or "", domain="testserver.local")
        page = await back_from_partner(b, callback)
        assert page.status == 400
        assert page.h1 == "This Sign-In Partner log in has expired"
        assert "auth" not in b.session()
    (identity,) = rows(settings, PartnerIdentity)  # one journey, no second half-made one
    assert identity.journey_id in journey


async def test_a_partner_that_is_down_gets_a_clear_page_and_nothing_is_made(
    client: Client, partner_settings: Settings, new_worker: NewWorker, broker: Broker
) -> None:
    settings = partner_settings
    async with new_worker(client, settings), browser(settings, client) as b:
        with broker.down():
            page = await b.submit(await b.get("/fr/login"), "sign-in-partner")
            assert page.status == 503
            assert page.h1 == "Votre partenaire de connexion est injoignable"
        callback = await sign_in(await to_partner(b))
        with broker.down():  # gone between the person's sign in and the code exchange
            page = await back_from_partner(b, callback)
            assert page.status == 503
            assert page.h1 == "Your Sign-In Partner cannot be reached"
        assert "auth" not in b.session()
        # Back up: the person simply starts again.
        page = await back_from_partner(b, await sign_in(await to_partner(b)))
        assert page.h1 == "Welcome to CERS"
    assert len(rows(settings, PartnerIdentity)) == 1
