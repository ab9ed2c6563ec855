"""Bad input the fuzzing of every route found answering 5xx, each as the person (or the
attacker) who found it would meet it, over real HTTP with a real worker behind the site: the
normal 403, 400 or 404 page in the page's language."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from db.audit import audit_entries
from db.engine import make_engine
from settings import Settings
from tests.conftest import NewWorker
from tests.journeys import begin, journey_handle
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Page, browser, element, sign_up
from web.journeys import Journeys, ListPageGone
from workflows.onboarding import OnboardingWorkflow
from workflows.types import Step


async def test_a_csrf_token_with_non_ascii_characters_gets_the_expired_form_page(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """compare_digest raised TypeError on a non-ASCII str: every form answered 500."""
    async with new_worker(client, settings), browser(settings, client) as b:
        await b.get("/fr/gckey/sign-in")  # a session, with its token
        for token in ("jeton-é", "\u202e" + b.session()["csrf"]):
            page = Page(await b.http.post("/fr/gckey/sign-up", data={"csrf_token": token}))
            assert page.status == 403
            assert page.h1 == "Ce formulaire a expiré"
        assert "journey" not in b.session()  # nothing was started


async def test_a_forged_page_of_the_staff_list_gets_a_page_that_starts_it_again(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """``?page=AAAA`` went to Temporal as a page token: its visibility store failed and the
    page answered 500 (after the client's retries)."""
    staff = Staff(settings)
    async with new_worker(client, settings), browser(settings, client) as b:
        await staff_sign_in(b, staff.support)
        for lang, says in (
            (
                "en",
                "This page of the list is no longer available. Start again from the first page.",
            ),
            ("fr", "Cette page de la liste n'est plus disponible. Recommencez à la première page."),
        ):
            for token in ("AAAA", "AA==", "%FF", "W10.forged"):
                page = await b.get(f"/{lang}/staff/journeys?step=terms&page={token}")
                assert page.status == 400
                assert page.text(".error-summary a") == says
                link = element(page.html, ".error-summary a").attributes["href"]
                first = str(element(page.html, link or "").attributes["href"])
                assert "page=" not in first
                assert "step=terms" in first  # the filters are kept


class RefusingVisibility:
    """Unit test only: a Temporal whose visibility store refuses the page token, as a
    production store (SQL or Elasticsearch) answers a token it cannot read."""

    data_converter = DataConverter()  # the gateway reads histories with the client's keys

    def list_workflows(self, *args: object, **kwargs: object) -> RefusingVisibility:
        return self

    async def fetch_next_page(self) -> None:
        raise RPCError("invalid page token", RPCStatusCode.INVALID_ARGUMENT, b"")


async def test_a_page_token_temporal_refuses_starts_the_list_again(settings: Settings) -> None:
    journeys = Journeys(RefusingVisibility(), settings)  # type: ignore[arg-type]
    with pytest.raises(ListPageGone):
        await journeys.list_page("WorkflowType = 'OnboardingWorkflow'", 20, b"stale")
    with pytest.raises(RPCError):  # without a token, the query itself is at fault: a 5xx
        await journeys.list_page("WorkflowType = 'OnboardingWorkflow'", 20, None)


async def test_a_field_that_cannot_be_read_gets_a_400_page_in_its_language(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """A number that is not one got FastAPI's JSON 422, in English only."""
    staff = Staff(settings)
    async with new_worker(client, settings), browser(settings, client) as b:
        await staff_sign_in(b, staff.support, "fr")
        page = Page(
            await b.http.post(
                f"/fr/staff/journeys/{uuid.uuid4()}/actions/extend_deadline",
                data={"csrf_token": b.session()["csrf"], "reason": "Absent", "hours": "douze"},
            )
        )
        assert page.status == 400
        assert page.response.headers["content-type"].startswith("text/html")
        assert page.h1 == "Ce qui a été envoyé n'a pas pu être lu"


async def test_a_nul_in_what_is_looked_up_gets_the_page_anything_else_would_get(
    client: Client, settings: Settings, new_worker: NewWorker, database_url: str
) -> None:
    """PostgreSQL refuses a NUL in a query's text: a username or search with one answered 500,
    and so did the auditor's pages for a journey id with one."""
    settings.database_url = database_url
    staff = Staff(settings)
    async with (
        new_worker(client, settings),
        browser(settings, client) as exporter,
        browser(settings, client) as support,
    ):
        page = await exporter.get("/en/gckey/sign-in")
        page = await exporter.submit(page, "sign-in", {"username": "a\x00b", "password": "x"})
        assert page.status == 400
        assert page.field_error("sign_in").endswith(
            "The username or password you entered is incorrect."
        )
        page = await exporter.get("/en/gckey/forgot-password")
        page = await exporter.submit(page, "forgot-password", {"username": "a\x00b"})
        assert page.status == 200 and page.h1 != "Something went wrong"

        page = await support.get("/en/staff/sign-in")
        page = await support.submit(page, "sign-in", {"username": "ana\x00", "password": "x"})
        assert page.status == 400
        await staff_sign_in(support, staff.support)
        page = await support.get("/en/staff/search?q=a%00b%40example.ca")
        assert page.status == 400
        assert page.field_error("q").endswith(
            "No journey has this username, e-mail address or URN."
        )
        for path in ("timeline", "timeline.html", "history.json"):
            page = await support.get(f"/en/staff/journeys/a%00b/{path}")
            assert page.status == 404
            assert page.h1 == "Page not found"


async def test_a_support_reason_longer_than_the_audit_log_holds_is_refused_on_its_field(
    client: Client, settings: Settings, new_worker: NewWorker, database_url: str
) -> None:
    """The journey took a 600-character reason, then the audit log's 500-character column
    (on PostgreSQL) refused it: the action was done and the page answered 500."""
    settings.database_url = database_url
    staff = Staff(settings)
    async with new_worker(client, settings), browser(settings, client) as b:
        workflow_id = await begin(client, settings)
        await staff_sign_in(b, staff.support)
        journey_id = workflow_id.removeprefix("onboarding-")
        page = await b.get(f"/en/staff/journeys/{journey_id}")
        page = await b.submit(page, "actions/cancel", {"reason": "Duplicate journey. " * 32})
        assert page.status == 400
        assert page.field_error("reason") == "Error: Use at most 500 characters."
        handle = journey_handle(client, workflow_id)
        assert (await handle.query(OnboardingWorkflow.journey)).step is Step.TERMS
        engine = make_engine(settings.sqlalchemy_url)
        (entry,) = audit_entries(engine, journey_id)
        engine.dispose()
        assert (entry.outcome, len(entry.reason)) == ("refused", 500)


# Addresses no mail server can take were accepted; the e-mail activity then retried forever.
BAD_ADDRESSES = {
    "<script>@x.ca": (
        "Enter an e-mail address in the form name@example.ca.",
        "Entrez une adresse courriel de la forme nom@exemple.ca.",
    ),
    "jean\x00@example.ca": (
        "Remove the tab, line break or other invisible character from this field.",
        "Retirez de ce champ la tabulation, le saut de ligne ou tout autre caractère invisible.",
    ),
    "élan@exemple.ca": (
        "CERS cannot send e-mail to an address with accented or other non-English letters. "
        "Use an address without them.",
        "Le SCDE ne peut pas envoyer de courriel à une adresse qui contient des lettres "
        "accentuées ou d'autres lettres non anglaises. Utilisez une adresse sans ces lettres.",
    ),
}


async def test_every_address_field_refuses_what_no_mail_server_can_take(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """The recovery e-mail and Create User Account's e-mail (support's resume link goes only
    to an address the journey holds): the one rule, checked by the journey's validators (in
    Temporal's sandbox) and shown on the field in the page's language."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await sign_up(b, "fr", f"Adr{uuid.uuid4().hex[:7]}", "<script>@x.ca")
        for address, (_, french) in BAD_ADDRESSES.items():
            page = await b.submit(page, "recovery-email", {"email": address})
            assert page.status == 400
            assert page.field_error("email") == f"Erreur : {french}"
        page = await b.submit(page, "recovery-email", {"email": ""})  # still optional
        page = await b.submit(page, "issued")
        page = await b.get("/en/cers/account")
        form = {"given_name": "Jean", "family_name": "Adresse", "time_zone": "America/Toronto"}
        for address, (english, _) in BAD_ADDRESSES.items():
            page = await b.submit(page, "account", {**form, "email": address, "language": "en"})
            assert page.status == 400
            assert page.field_error("email") == f"Error: {english}"
