"""The staff list from visibility alone: real journeys on a real worker, read over HTTP. Each
filter shows the right rows; "stuck only" finds a journey whose confirmation e-mail keeps
failing (a mail server answering 451) and one left past its link's deadline, and leaves a
healthy one out; and a page costs Temporal one visibility call, nothing per row."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import (
    Client,
    CountWorkflowsInput,
    DescribeWorkflowInput,
    FetchWorkflowHistoryEventsInput,
    Interceptor,
    ListWorkflowsInput,
    OutboundInterceptor,
    QueryWorkflowInput,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionDescription,
    WorkflowHistoryEventAsyncIterator,
)

from benchmarks.staff_list import measure, seed
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.journeys import begin, create_account, journey_handle, new_address, new_username, sign_up
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Page, browser
from web.journeys import journey_id_of
from web.staff import reading
from workflows import search


class Calls(Counter[str]):
    """What the site asked Temporal, by kind."""


class Counting(Interceptor):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return CountingOutbound(next, self.calls)


class CountingOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, calls: Calls) -> None:
        super().__init__(next)
        self.calls = calls

    def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
        self.calls["list"] += 1
        return super().list_workflows(input)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        self.calls["describe"] += 1
        return await super().describe_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self.calls["query"] += 1
        return await super().query_workflow(input)

    async def count_workflows(self, input: CountWorkflowsInput) -> Any:
        self.calls["count"] += 1
        return await super().count_workflows(input)

    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        self.calls["history"] += 1
        return super().fetch_workflow_history_events(input)


def counting_client(client: Client, calls: Calls) -> Client:
    config = client.config()
    config["interceptors"] = [*config["interceptors"], Counting(calls)]
    return Client(**config)


def listed(page: Page) -> set[str]:
    return {str(row.attributes["data-journey"]) for row in page.html.css("tr[data-journey]")}


def reasons(page: Page, journey_id: str) -> list[str]:
    return page.texts(f'tr[data-journey="{journey_id}"] .stuck li')


async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def any_of(client: Client, query: str) -> bool:
    return await count(client, query) > 0


@pytest.fixture
def refusing(smtp: MailCatcher) -> Iterator[MailCatcher]:
    """The mail server answers 451 (down for now) to every message until told otherwise."""
    smtp.refuse = True
    try:
        yield smtp
    finally:
        smtp.refuse = False


async def test_stuck_only_finds_failing_mail_and_a_passed_deadline_from_visibility(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    smtp: MailCatcher,
    refusing: MailCatcher,
) -> None:
    staff = Staff(settings)
    calls = Calls()
    queue = f"TaskQueue = '{settings.task_queue}'"
    async with new_worker(client, settings):
        healthy = journey_id_of(await begin(client, settings))
        # Its link lives 3 s; its e-mail goes (the mail server takes it), then the deadline passes.
        smtp.refuse = False
        expired_id = await begin(client, settings, expire_after_seconds=3)
        await sign_up(client, expired_id, new_username())
        expired_to = new_address()
        await create_account(journey_handle(client, expired_id), expired_to)
        await smtp.wait_for(expired_to)
        # This one's confirmation e-mail meets a mail server that keeps answering 451.
        smtp.refuse = True
        failing_id = await begin(client, settings)
        await sign_up(client, failing_id, new_username())
        failing_to = new_address()
        await create_account(journey_handle(client, failing_id), failing_to)
        expired, failing = journey_id_of(expired_id), journey_id_of(failing_id)

        # The workflow learns its first attempts failed, and says so in visibility.
        failing_now = f"{queue} AND {search.EMAIL_FAILING.name} = true"
        await until(lambda: any_of(client, failing_now), what="CersEmailFailing", timeout=60)
        passed = lambda: any_of(client, f"{queue} AND {search.DEADLINE.name} < '{_now_iso()}'")  # noqa: E731
        await until(passed, what="the deadline to pass", timeout=30)

        async with browser(settings, counting_client(client, calls)) as b:
            await staff_sign_in(b, staff.auditor)
            calls.clear()
            page = await b.get("/en/staff/journeys")
            assert listed(page) == {healthy, expired, failing}
            assert calls == {"list": 1}

            calls.clear()
            page = await b.get("/en/staff/journeys?stuck=1")
            assert calls == {"list": 1}  # not one call per row, not five pages scanned
            assert listed(page) == {expired, failing}
            assert reasons(page, expired) == [
                "The confirmation link has expired and no new one was asked for"
            ]
            assert reasons(page, failing) == [
                "An e-mail keeps failing to go: the mail server is down or deferring it"
            ]
            page = await b.get("/fr/staff/journeys?stuck=1")
            assert reasons(page, failing) == [
                "Un courriel n'arrive pas à partir : le serveur de courriel est hors service "
                "ou le diffère"
            ]

            for filters, rows in [
                ("step=terms", {healthy}),
                ("step=confirm_email", {expired, failing}),
                ("status=awaiting_confirmation", {expired, failing}),
                ("status=in_progress", {healthy}),
                ("login_method=gckey", {healthy, expired, failing}),
                ("login_method=sign_in_partner", set()),
                ("idle_hours=1", set()),
                ("step=confirm_email&stuck=1", {expired, failing}),
                ("step=terms&stuck=1", set()),
            ]:
                calls.clear()
                page = await b.get(f"/en/staff/journeys?{filters}")
                assert listed(page) == rows, filters
                assert calls == {"list": 1}, filters

            # The mail server is back: the e-mail goes, and the journey is no longer stuck.
            smtp.refuse = False
            await smtp.wait_for(failing_to)
            healed = f"{queue} AND {search.EMAIL_FAILING.name} = false"
            await until(lambda: any_of(client, healed), what="CersEmailFailing false", timeout=30)
            page = await b.get("/en/staff/journeys?stuck=1")
            assert listed(page) == {expired}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


async def test_pages_go_next_and_previous_with_their_numbers(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five seeded journeys, two a page: 1, 2, 3 forward, then back, each page one call."""
    monkeypatch.setattr(reading, "PAGE_SIZE", 2)
    staff = Staff(settings)
    seeded = await seed(client, settings, 5)
    await until(lambda: _at_least(client, settings, 5), what="five seeded", timeout=30)
    calls = Calls()
    async with browser(settings, counting_client(client, calls)) as b:
        await staff_sign_in(b, staff.support)
        page = await b.get("/en/staff/journeys")
        assert page.html.css_first("a[rel=prev]") is None
        pages = [listed(page)]
        for number in (2, 3):
            href = str(page.html.css_first("a[rel=next]").attributes["href"])  # type: ignore[union-attr]
            calls.clear()
            page = await b.get(href)
            assert calls == {"list": 1}
            assert page.text("caption") == f"Journeys, page {number}"
            pages.append(listed(page))
        assert page.html.css_first("a[rel=next]") is None
        assert set().union(*pages) == set(seeded) and sum(map(len, pages)) == 5
        # Back: page 2 and then page 1 show what they showed going forward.
        href = str(page.html.css_first("a[rel=prev]").attributes["href"])  # type: ignore[union-attr]
        page = await b.get(href)
        assert page.text("caption") == "Journeys, page 2"
        assert listed(page) == pages[1]
        href = str(page.html.css_first("a[rel=prev]").attributes["href"])  # type: ignore[union-attr]
        page = await b.get(href)
        assert page.text("caption") == "Journeys, newest first"
        assert listed(page) == pages[0]


async def _at_least(client: Client, settings: Settings, n: int) -> bool:
    return await count(client, f"TaskQueue = '{settings.task_queue}'") >= n


async def test_the_staff_list_benchmark_runs_at_a_tiny_size(
    client: Client, settings: Settings
) -> None:
    """The benchmark's smoke test: it seeds, walks each filter's pages over real HTTP and
    reports a figure for each; no timing is asserted."""
    figures = await measure(client, settings, journeys=25, depths=[1, 2], repeats=2)
    names = {f.filter for f in figures}
    assert {"all", "stuck only", "step=password"} <= names
    assert all(f.samples for f in figures)
    first = next(f for f in figures if f.filter == "all" and f.depth == 1)
    assert first.rows == 20 and first.bare_ms  # a full page, and bare Temporal beside it
    assert uuid.UUID(first.sample_journey)
