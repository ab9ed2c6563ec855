"""No Temporal round trip to render a page (issue 12, item 1): the pages a person reaches by a
form, or reloads, come from what the update answered (the session's view of the journey).
Correctness first: a support action or a timer that moves the journey shows on the next page."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
)

from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.journeys import PASSWORD
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import ANSWERS, Browser, browser, create_user_account
from web.journeys import journey_id_of
from workflows.onboarding import OnboardingWorkflow
from workflows.types import Step


class CountQueries(Interceptor):
    """Every query the site sends to Temporal, by name."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Counting(next, self.queries)


class _Counting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, queries: list[str]) -> None:
        super().__init__(next)
        self.queries = queries

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self.queries.append(input.query)
        return await super().query_workflow(input)


def counting(client: Client) -> tuple[Client, CountQueries]:
    counter = CountQueries()
    config = client.config()
    config["interceptors"] = [counter]
    return Client(**config), counter


def new_username() -> str:
    return f"Views{uuid.uuid4().hex[:6]}"


async def test_a_whole_journey_costs_one_query_for_its_page_views(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """The whole GCKey journey, every step page reloaded once: the only query left is the
    portal's, which shows what the e-mail is doing (changed from outside: the mail server,
    timers). Before the session's view it was 18 (one per step page and reload, cers_home,
    welcome, account, portal)."""
    site, counter = counting(client)
    email = f"views-{uuid.uuid4().hex[:6]}@example.com"
    async with new_worker(client, settings), browser(settings, site) as b:
        await b.get("/en/login")
        page = await b.submit(await b.get("/en/gckey/sign-in"), "sign-up")
        steps: list[tuple[str, dict[str, Any]]] = [
            ("terms", {"decision": "accept"}),
            ("username", {"username": new_username()}),
            ("password", {"password": PASSWORD, "confirmation": PASSWORD}),
            (
                "recovery",
                {"question": list(ANSWERS), "answer": list(ANSWERS.values()), "hint": [""] * 3},
            ),
            ("recovery-email", {"email": ""}),
        ]
        for action, data in steps:
            reloaded = await b.get(page.url)  # a reload of the step page
            assert reloaded.h1 == page.h1
            page = await b.submit(reloaded, action, data)
        assert page.h1 == "Your GCKey has been issued"
        assert (await b.get(page.url)).h1 == "Your GCKey has been issued"
        page = await b.submit(page, "issued")
        assert page.url.endswith("/en/cers/welcome")
        assert counter.queries == []
        page = await create_user_account(b, "en", email)
        assert page.h1 == "Your user account is now created"
        await smtp.wait_for(email)
        await b.get("/en/portal")
        assert counter.queries == ["journey"]


async def walk_to(b: Browser, step: str) -> None:
    page = await b.submit(await b.get("/en/gckey/sign-in"), "sign-up")
    page = await b.submit(page, "terms", {"decision": "accept"})
    if step == "password":
        await b.submit(page, "username", {"username": new_username()})


async def test_a_support_cancel_shows_on_the_persons_next_page(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """The person's session knew the journey at the password step; support cancels it; the
    next page is the cancelled page, not the password form (the staff action marks every
    session's view of the journey stale)."""
    staff = Staff(settings)
    site, counter = counting(client)
    async with (
        new_worker(client, settings),
        browser(settings, site) as person,
        browser(settings, client) as desk,
    ):
        await walk_to(person, "password")
        assert (await person.get("/en/gckey/password")).url.endswith("/en/gckey/password")
        assert counter.queries == []
        journey_id = journey_id_of(person.session_journey())
        await staff_sign_in(desk, staff.support)
        page = await desk.get(f"/en/staff/journeys/{journey_id}")
        page = await desk.submit(page, "actions/cancel", {"reason": "Asked by the caller"})
        assert "done=cancel" in page.url
        page = await person.get("/en/gckey/password")
        assert page.h1 == "This registration was cancelled"
        assert counter.queries == ["view"]


async def test_abandonment_by_its_timer_shows_on_the_persons_next_page(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """A reload right after the step needs no query; once the abandon period is near, the page
    asks, and after the timer fired it shows the sign-up expired."""
    settings.abandon_after_days = 15 / 86400
    site, counter = counting(client)
    async with new_worker(client, settings), browser(settings, site) as b:
        await walk_to(b, "username")
        assert (await b.get("/en/gckey/username")).url.endswith("/en/gckey/username")
        assert counter.queries == []
        handle = client.get_workflow_handle(b.session_journey())

        async def abandoned() -> bool:
            state = await handle.query(OnboardingWorkflow.journey)
            return bool(state.step is Step.ABANDONED)

        await until(abandoned, what="the sign-up abandoned", timeout=30)
        page = await b.get("/en/gckey/username")
        assert page.h1 == "Your sign-up expired"
        assert counter.queries == ["view"]


async def test_a_page_of_another_tab_lands_where_the_journey_stands(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Two tabs of one browser: the second moved the journey on; a form of the first is
    refused by the journey (WrongStep) and the browser lands where the journey stands."""
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.submit(await b.get("/en/gckey/sign-in"), "sign-up")
        terms_tab = page
        page = await b.submit(page, "terms", {"decision": "accept"})
        username_tab = page
        await b.submit(page, "username", {"username": new_username()})
        # The old username page's form, with a username of another choice: a new press.
        page = await b.submit(username_tab, "username", {"username": new_username()})
        assert page.url.endswith("/en/gckey/password")
        assert (await b.get(terms_tab.url)).url.endswith("/en/gckey/password")
