"""Rate limits and the staff lockout (web/limits.py) over real HTTP, with a real worker behind
the site, counted in process and in Redis: over a limit, a 429 page in the page's language
with Retry-After, and nothing started or sent; a limit treats an unknown username as it treats
a known one; X-Forwarded-For is believed only from a trusted proxy."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from core.hashing import verify_secret
from db.engine import make_engine
from db.models import AuditEntry
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.i18n_helpers import EnglishFinder
from tests.journeys import (
    PASSWORD,
    begin,
    choose_credentials,
    journey_handle,
    new_address,
    new_username,
)
from tests.staff_helpers import STAFF_PASSWORD, Staff
from tests.web_helpers import Browser, Page, element
from web.app import create_app
from web.staff import access as staff_access
from workflows.onboarding import OnboardingWorkflow
from workflows.reset import PasswordResetWorkflow
from workflows.reset_types import ResetStep
from workflows.types import SetRecoveryEmailInput

ROOT = Path(__file__).resolve().parent.parent
WRONG = "Wrong7Password"
SIGN_IN_FAILED = "Error: The username or password you entered is incorrect."


@asynccontextmanager
async def site(settings: Settings, client: Client) -> AsyncIterator[FastAPI]:
    """One web process: the app with its lifespan (and so its own limiter)."""
    app = create_app(settings, client)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def visitor(
    app: FastAPI, settings: Settings, address: str = "127.0.0.1"
) -> AsyncIterator[Browser]:
    """A browser whose connections come from ``address``."""
    engine = make_engine(settings.sqlalchemy_url)  # where the browser's session is read from
    transport = httpx2.ASGITransport(app=app, client=(address, 50000))
    try:
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://testserver", follow_redirects=True
        ) as http:
            yield Browser(http, app, engine)
    finally:
        engine.dispose()


async def issued_gckey(client: Client, settings: Settings, username: str, email: str = "") -> str:
    """A GCKey made as the site makes one; its journey's workflow id."""
    workflow_id = await begin(client, settings)
    handle = journey_handle(client, workflow_id)
    await choose_credentials(handle, username)
    await handle.execute_update(OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(email))
    return workflow_id


async def sign_in(b: Browser, username: str, password: str, lang: str = "en") -> Page:
    page = await b.get(f"/{lang}/gckey/sign-in")
    return await b.submit(page, "sign-in", {"username": username, "password": password})


async def staff_try(b: Browser, username: str, password: str) -> Page:
    page = await b.get("/en/staff/sign-in")
    return await b.submit(page, "staff/sign-in", {"username": username, "password": password})


async def start_reset(b: Browser, username: str, lang: str = "en") -> Page:
    page = await b.get(f"/{lang}/gckey/forgot-password")
    return await b.submit(page, "forgot-password", {"username": username})


def unknown() -> str:
    return f"nobody{uuid.uuid4().hex[:6]}"


def assert_too_many(page: Page, lang: str = "en") -> int:
    """The 429 page in ``lang``; the seconds its Retry-After asks to wait."""
    assert page.status == 429, page.url
    assert element(page.html, "html").attributes.get("lang") == lang
    assert page.h1 == {"en": "Too many attempts", "fr": "Trop de tentatives"}[lang]
    retry_after = int(page.response.headers["Retry-After"])
    assert retry_after > 0
    return retry_after


def sign_ins_recorded(history: WorkflowHistory) -> int:
    """sign_in_decided signals the journey received: each one a verdict the site counted."""
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == "sign_in_decided"
    )


# -- GCKey sign-in -------------------------------------------------------------------------


async def test_gckey_sign_in_is_limited_per_account_known_or_not(
    client: Client, settings: Settings, new_worker: NewWorker, limit_store: str
) -> None:
    settings.sign_in_limit_per_account = "3/minute"
    username = new_username()
    async with (
        new_worker(client, settings),
        site(settings, client) as app,
        visitor(app, settings) as b,
    ):
        workflow_id = await issued_gckey(client, settings, username)
        over = []
        for name in (username, unknown()):
            for _ in range(3):
                page = await sign_in(b, name, WRONG)
                assert page.status == 400 and page.field_error("sign_in") == SIGN_IN_FAILED
            # The right password, in another case (the same account): over the limit all the same.
            over.append(await sign_in(b, name.upper(), PASSWORD))
        french = await sign_in(b, username, PASSWORD, "fr")
        history = await client.get_workflow_handle(workflow_id).fetch_history()
    assert [assert_too_many(page) <= 60 for page in over] == [True, True]
    # A known username and an unknown one read the same at the limit (but for the time).
    assert over[0].texts("main p")[0] == over[1].texts("main p")[0]
    assert_too_many(french, "fr")
    with (ROOT / "i18n" / "messages.pot").open("rb") as f:
        assert EnglishFinder(read_po(f)).in_page(french) == []
    assert "Vous pourrez réessayer après le" in french.text("main")
    assert "auth" not in b.session()  # the right password let no one in
    assert sign_ins_recorded(history) == 3  # the journey heard of the three, not of the rest


async def test_forwarded_for_counts_only_from_a_trusted_proxy(
    client: Client, settings: Settings, limit_store: str
) -> None:
    """Unknown usernames, so only the per-address limit can trip (and no worker is needed)."""
    settings.sign_in_limit_per_address = "2/minute"
    settings.trusted_proxies = "10.0.0.1"
    async with site(settings, client) as app:
        async with visitor(app, settings, "203.0.113.5") as direct:
            statuses = []
            for n in range(3):
                # Forged: this connection is no proxy, so the header changes nothing.
                direct.http.headers["X-Forwarded-For"] = f"198.51.100.{n}"
                statuses.append((await sign_in(direct, unknown(), WRONG)).status)
            assert statuses == [400, 400, 429]
        async with visitor(app, settings, "10.0.0.1") as proxy:
            proxy.http.headers["X-Forwarded-For"] = "192.0.2.7"
            statuses = [(await sign_in(proxy, unknown(), WRONG)).status for _ in range(3)]
            assert statuses == [400, 400, 429]
            # Another client behind the same proxy has its own count...
            proxy.http.headers["X-Forwarded-For"] = "192.0.2.8"
            assert (await sign_in(proxy, unknown(), WRONG)).status == 400
            # ...and the proxy's word is what is counted: the address used up above is spent.
            proxy.http.headers["X-Forwarded-For"] = "203.0.113.5"
            assert_too_many(await sign_in(proxy, unknown(), WRONG))


async def test_several_web_processes_count_together_only_in_a_shared_store(
    client: Client, settings: Settings, limit_store: str
) -> None:
    settings.sign_in_limit_per_address = "2/minute"
    async with site(settings, client) as first, site(settings, client) as second:
        async with visitor(first, settings) as b:
            assert [(await sign_in(b, unknown(), WRONG)).status for _ in range(2)] == [400, 400]
        async with visitor(second, settings) as b:
            page = await sign_in(b, unknown(), WRONG)
    # In process each web process counts its own: that is what RATE_LIMIT_STORAGE is for.
    assert page.status == {"memory": 400, "redis": 429}[limit_store]


async def test_an_unreachable_shared_store_lets_nothing_through_uncounted(
    client: Client, settings: Settings
) -> None:
    settings.rate_limit_storage = "redis://127.0.0.1:1"  # nothing listens there
    async with site(settings, client) as app, visitor(app, settings) as b:
        page = await sign_in(b, unknown(), WRONG, "fr")
    assert page.status == 503 and page.h1 == "Un problème est survenu"


# -- Starting a journey --------------------------------------------------------------------


async def test_starting_journeys_is_limited_per_address_and_starts_nothing(
    client: Client, settings: Settings, new_worker: NewWorker, limit_store: str
) -> None:
    settings.sign_up_limit_per_address = "2/minute"
    query = f"TaskQueue = '{settings.task_queue}'"
    async with new_worker(client, settings), site(settings, client) as app:
        for _ in range(2):
            async with visitor(app, settings) as b:
                page = await b.submit(await b.get("/en/gckey/sign-in"), "sign-up")
                assert page.h1 == "Terms and Conditions of Use"
        async with visitor(app, settings) as b:
            assert_too_many(await b.submit(await b.get("/fr/gckey/sign-in"), "sign-up"), "fr")
            # The Sign-In Partner choice starts a journey too: the same count.
            assert_too_many(await b.submit(await b.get("/en/login"), "sign-in-partner"))
            assert "journey" not in b.session()
    await until(lambda: _count(client, query, 2), what="the two journeys that were let through")
    assert (await client.count_workflows(query)).count == 2


async def _count(client: Client, query: str, count: int) -> bool:
    return (await client.count_workflows(query)).count >= count


# -- Staff sign-in -------------------------------------------------------------------------


def audit_log(settings: Settings) -> list[AuditEntry]:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))))
    finally:
        engine.dispose()


def without_tokens(page: Page) -> str:
    """The page as anyone would read it, less the CSRF token and the username typed back."""
    html = re.sub(r'name="csrf_token" value="[^"]*"', "", page.response.text)
    return re.sub(r'name="username" type="text" value="[^"]*"', "", html)


async def test_staff_sign_in_locks_reads_the_same_and_is_audited(
    client: Client,
    settings: Settings,
    limit_store: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.staff_lock_after_failures = 3
    staff = Staff(settings)
    checks: list[str] = []

    def counted(hashed: str, password: str) -> bool:
        checks.append(hashed)
        return verify_secret(hashed, password)

    monkeypatch.setattr(staff_access, "verify_secret", counted)
    nobody = f"nobody-{uuid.uuid4().hex[:6]}"
    async with site(settings, client) as app, visitor(app, settings) as b:
        wrong = [await staff_try(b, staff.support, WRONG) for _ in range(3)]
        locked_right = await staff_try(b, staff.support, STAFF_PASSWORD)
        assert "staff" not in b.session()  # locked: the right password did not let them in
        unknown_pages = [await staff_try(b, nobody, STAFF_PASSWORD) for _ in range(4)]
        other = await staff_try(b, staff.auditor, STAFF_PASSWORD)  # a lock is per account
        assert other.h1 == "Onboarding journeys"
    for page in (*wrong, locked_right, *unknown_pages):
        assert page.status == 400 and page.field_error("sign_in") == SIGN_IN_FAILED
        assert without_tokens(page) == without_tokens(wrong[0])
    assert len(checks) == 9  # one argon2id check each, locked or not, known or not

    entries = [(e.staff_username, e.staff_role, e.action, e.outcome) for e in audit_log(settings)]
    tried = [("staff_sign_in", "failed")] * 3 + [("staff_locked", "locked")]
    tried += [("staff_sign_in", "refused_locked")]
    assert entries == (
        [(staff.support, "support", *t) for t in tried]
        + [("(unknown)", "", *t) for t in tried]
        + [(staff.auditor, "auditor", "staff_sign_in", "signed_in")]
    )
    log = audit_log(settings)
    attempts = {e.staff_username: e.detail for e in log if e.action == "staff_sign_in"}
    assert len(set(attempts.values())) == 3  # one keyed hash per name tried
    for entry in log:
        assert nobody not in entry.detail and STAFF_PASSWORD not in entry.detail


async def test_a_staff_lock_ends_by_itself_after_its_time(
    client: Client, settings: Settings
) -> None:
    settings.staff_lock_after_failures = 2
    settings.staff_lock_minutes = 1 / 60  # one second
    staff = Staff(settings)
    async with site(settings, client) as app, visitor(app, settings) as b:
        for _ in range(2):
            await staff_try(b, staff.support, WRONG)
        assert (await staff_try(b, staff.support, STAFF_PASSWORD)).status == 400

        async def let_in() -> bool:
            return (await staff_try(b, staff.support, STAFF_PASSWORD)).status == 200

        await until(let_in, what="the staff lock to end")
    assert [e.outcome for e in audit_log(settings)][-1] == "signed_in"


async def test_staff_sign_in_is_limited_per_account(
    client: Client, settings: Settings, limit_store: str
) -> None:
    settings.staff_sign_in_limit_per_account = "2/minute"
    staff = Staff(settings)
    async with site(settings, client) as app, visitor(app, settings) as b:
        assert (await staff_try(b, staff.support, WRONG)).status == 400
        assert (await staff_try(b, staff.support, WRONG)).status == 400
        assert_too_many(await staff_try(b, staff.support, STAFF_PASSWORD))
        assert "staff" not in b.session()


# -- Forgot your password? -----------------------------------------------------------------


async def test_forgot_password_attempts_per_day_and_codes_per_hour(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    smtp: MailCatcher,
    limit_store: str,
) -> None:
    settings.reset_attempts_per_day = 2
    settings.reset_codes_per_hour = 1
    username, address = new_username(), new_address()
    query = f"TaskQueue = '{settings.task_queue}' AND WorkflowType = 'PasswordResetWorkflow'"
    async with new_worker(client, settings), site(settings, client) as app:
        await issued_gckey(client, settings, username, address)
        for name in (username, unknown()):
            async with visitor(app, settings) as b:
                page = await b.submit(await start_reset(b, name), "way", {"way": "email_code"})
                assert page.h1 == "Confirm it is you" and page.html.css_first("#code")
                # A second attempt the same day is allowed; a second code this hour is not.
                page = await start_reset(b, name.upper())
                second = b.session()["reset"]
                assert_too_many(await b.submit(page, "way", {"way": "email_code"}))
                handle = client.get_workflow_handle(second)
                state = await handle.query(PasswordResetWorkflow.reset)
                assert state.step is ResetStep.CHOOSE_WAY and state.code_requested_at is None
                # Every recovery answer sends nothing, so it is not a code to count.
                page = await b.get("/en/gckey/forgot-password/way")
                page = await b.submit(page, "way", {"way": "all_answers"})
                assert page.h1 == "Confirm it is you" and not page.html.css_first("#code")
                # A third attempt the same day: refused, and the session keeps the second.
                assert_too_many(await start_reset(b, name), "en")
                assert b.session()["reset"] == second
        await smtp.wait_for(address)
        await until(lambda: _count(client, query, 4), what="the four resets let through")
    assert (await client.count_workflows(query)).count == 4
    assert len(smtp.to(address)) == 1  # one code: the second was never asked of the workflow
