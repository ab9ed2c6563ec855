"""The staff area: accounts from the command line, sign-in, roles on every staff route, and the
support side's reading (journey list from visibility, search, a journey's page, stuck)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlmodel import Session
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from core.hashing import verify_secret
from db.audit import audit_entries, record_audit
from db.engine import make_engine
from db.models import UserAccount
from db.staff import StaffRole, staff_member_named
from settings import Settings
from staff.cli import Refused, create, main
from tests.conftest import MailCatcher, NewWorker, until
from tests.i18n_helpers import EnglishFinder
from tests.journeys import begin, journey_handle, sign_up
from tests.staff_helpers import STAFF_PASSWORD, Staff, staff_sign_in
from tests.web_helpers import Browser, Page, browser, element, routes_app
from web.journeys import journey_id_of, workflow_id_for
from web.staff import RoleCheck, reading
from web.staff import access as staff_access
from workflows import search
from workflows.onboarding import OnboardingWorkflow
from workflows.search import JourneyStatus
from workflows.types import CreateAccountInput, JourneyState, LoginMethod, Profile, Step

ROOT = Path(__file__).resolve().parent.parent


# -- Staff accounts -----------------------------------------------------------------------


@pytest.fixture
def staff(settings: Settings) -> Staff:
    return Staff(settings)


def test_the_staff_command_creates_lists_and_disables(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Once as a person runs it, in its own process, with the database of its environment.
    env = {**os.environ, "DATA_DIR": str(tmp_path / "cli"), "DATABASE_URL": ""}
    made = subprocess.run(
        [sys.executable, "-m", "staff", "create", "--username", "Cleo", "--role", "auditor"]
        + ["--display-name", "Cléo Roy", "--password-stdin"],
        input=f"{STAFF_PASSWORD}\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert "created auditor staff account Cleo" in made.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "staff", "list"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    assert listed.stdout.splitlines()[1].split() == ["Cleo", "auditor", "active", "Cléo", "Roy"]

    # Then as a function, on the test's database.
    engine = make_engine(settings.sqlalchemy_url)
    create(engine, "dora", StaffRole.SUPPORT, STAFF_PASSWORD, STAFF_PASSWORD)
    with pytest.raises(Refused, match="already exists"):
        create(engine, "DORA", StaffRole.AUDITOR, STAFF_PASSWORD, STAFF_PASSWORD)
    with pytest.raises(Refused, match="At least one digit"):
        create(engine, "eve-staff", StaffRole.SUPPORT, "NoDigitsHere", "NoDigitsHere")
    with pytest.raises(Refused, match="The two passwords must match"):
        create(engine, "eve-staff", StaffRole.SUPPORT, STAFF_PASSWORD, "Harbour7Gulls")
    member = staff_member_named(engine, "Dora")
    assert member is not None and member.role == "support" and member.password_hash != ""
    assert member.password_hash.startswith("$argon2id$")
    engine.dispose()
    assert main(["disable", "dora"], settings) == 0
    assert main(["disable", "nobody"], settings) == 1
    capsys.readouterr()
    assert main(["list"], settings) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("dora")]
    assert "disabled" in row


# -- Sign-in and sessions ------------------------------------------------------------------


async def test_unknown_username_and_wrong_password_look_the_same(
    client: Client, settings: Settings, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []

    def counted(hashed: str, password: str) -> bool:
        checks.append(hashed)
        return verify_secret(hashed, password)

    monkeypatch.setattr(staff_access, "verify_secret", counted)
    engine = make_engine(settings.sqlalchemy_url)
    staff_access_disabled = f"gone-{uuid.uuid4().hex[:6]}"
    create(engine, staff_access_disabled, StaffRole.SUPPORT, STAFF_PASSWORD, STAFF_PASSWORD)
    assert main(["disable", staff_access_disabled], settings) == 0
    engine.dispose()
    async with browser(settings, client) as b:
        answers = []
        for username, password in [
            ("nobody-at-all", STAFF_PASSWORD),
            (staff.support, "Wrong7Password"),
            (staff_access_disabled, STAFF_PASSWORD),
        ]:
            page = await b.get("/en/staff/sign-in")
            page = await b.submit(
                page, "staff/sign-in", {"username": username, "password": password}
            )
            assert page.status == 400
            answers.append(page.field_error("sign_in"))
            assert element(page.html, "#password").attributes.get("value") == ""
        assert answers == ["Error: The username or password you entered is incorrect."] * 3
        # Each failure paid one argon2id check, whether or not the username exists.
        assert len(checks) == 3
        page = await staff_sign_in(b, staff.support.upper())  # usernames ignore case
        assert page.h1 == "Onboarding journeys"
        assert "Ana L (support)" in page.text(".staff-who")


async def test_staff_and_exporter_sessions_exclude_each_other(
    client: Client, settings: Settings, new_worker: NewWorker, staff: Staff
) -> None:
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.get("/en/gckey/sign-in")
        page = await b.submit(page, "sign-up")  # an exporter's journey in this browser
        assert "journey" in b.session()
        page = await b.get("/en/staff/journeys")
        assert page.status == 403
        assert page.h1 == "You cannot open this page"
        page = await staff_sign_in(b, staff.auditor)
        assert page.h1 == "Onboarding journeys"
        assert "journey" not in b.session() and "staff" in b.session()
        # And the other way: the exporter's start of a journey ends the staff session.
        page = await b.get("/en/gckey/sign-in")
        await b.submit(page, "sign-up")
        page = await b.get("/en/staff/journeys")
        assert page.status == 403
        page = await staff_sign_in(b, staff.auditor)
        page = await b.submit(page, "staff/sign-out")
        assert page.h1 == "You have signed out"
        page = await b.get("/en/staff/journeys")
        assert page.h1 == "Staff sign in"


async def test_the_staff_session_ends_after_the_idle_window(
    client: Client, settings: Settings, staff: Staff
) -> None:
    now = [1_000_000.0]
    async with browser(settings, client, clock=lambda: now[0]) as b:
        await staff_sign_in(b, staff.support)
        now[0] += settings.session_idle_minutes * 60 - 1
        assert (await b.get("/en/staff/journeys")).h1 == "Onboarding journeys"
        now[0] += settings.session_idle_minutes * 60 + 1
        page = await b.get("/en/staff/journeys")
        assert page.h1 == "Staff sign in"
        assert "Your session has ended" in page.text(".notice")


async def test_a_disabled_account_is_refused_at_its_next_request(
    client: Client, settings: Settings, staff: Staff
) -> None:
    async with browser(settings, client) as b:
        await staff_sign_in(b, staff.support)
        assert main(["disable", staff.support], settings) == 0
        assert (await b.get("/en/staff/journeys")).h1 == "Staff sign in"


# -- Roles on every staff route ------------------------------------------------------------


def role_checks(dependant: Dependant) -> list[RoleCheck]:
    found = [dependant.call] if isinstance(dependant.call, RoleCheck) else []
    for sub in dependant.dependencies:
        found += role_checks(sub)
    return [c for c in found if isinstance(c, RoleCheck)]


def staff_routes() -> list[tuple[str, str, frozenset[StaffRole] | None]]:
    """(method, path, roles) of every route under /{lang}/staff; roles None for a public one."""
    app = routes_app()
    found = []
    # Routes of included routers, as FastAPI resolves them (prefix and router dependencies).
    for route in iter_route_contexts(app.routes):
        if route.path and route.path.startswith("/{lang}/staff"):
            checks = role_checks(route.dependant)
            roles = frozenset.intersection(*(c.roles for c in checks)) if checks else None
            found += [(method, route.path, roles) for method in sorted(route.methods or ())]
    return found


STAFF_ROUTES = staff_routes()
PUBLIC = {
    ("GET", "/{lang}/staff/sign-in"),
    ("POST", "/{lang}/staff/sign-in"),
    ("GET", "/{lang}/staff/signed-out"),
}


def test_only_the_sign_in_is_open_to_anyone() -> None:
    assert {(m, p) for m, p, roles in STAFF_ROUTES if roles is None} == PUBLIC
    assert ("GET", "/{lang}/staff/journeys/{journey_id}", frozenset(StaffRole)) in STAFF_ROUTES


@asynccontextmanager
async def visitor(
    who: str, settings: Settings, client: Client, staff: Staff
) -> AsyncIterator[Browser]:
    async with browser(settings, client) as b:
        if who == "exporter":
            page = await b.get("/en/gckey/sign-in")
            await b.submit(page, "sign-up")
        elif who in ("support", "auditor"):
            await staff_sign_in(b, getattr(staff, who))
        else:
            await b.get("/en/staff/sign-in")  # a CSRF token, so a refusal is the role's
        yield b


@pytest.mark.parametrize(("method", "path", "roles"), [r for r in STAFF_ROUTES if r[2]])
async def test_every_staff_route_checks_the_role_on_the_server(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    staff: Staff,
    method: str,
    path: str,
    roles: frozenset[StaffRole],
) -> None:
    async with new_worker(client, settings):
        journey_id = journey_id_of(await begin(client, settings))
        url = path.replace("{lang}", "en").replace("{journey_id}", journey_id)
        url = url.replace("{", "").replace("}", "")  # any other parameter: its own name
        for who in ("anonymous", "exporter", "auditor", "support"):
            async with visitor(who, settings, client, staff) as b:
                data = {"csrf_token": b.session().get("csrf", "")}
                response = await b.http.request(
                    method, url, data=data if method == "POST" else None, follow_redirects=False
                )
                where = response.headers.get("location", "")
                if who == "anonymous":
                    assert response.status_code == 303, url
                    assert where.endswith("/en/staff/sign-in"), url
                elif who == "exporter" or StaffRole(who) not in roles:
                    assert response.status_code == 403, (who, url)
                    assert "You cannot open this page" in response.text
                else:
                    assert response.status_code != 403, (who, url)
                    assert not where.endswith("/staff/sign-in"), (who, url)


# -- The journey list ----------------------------------------------------------------------


@workflow.defn(name="OnboardingWorkflow", sandboxed=False)
class StandInJourney:
    """Only for these tests: a journey at a chosen state with its search attributes set at
    start, as the real workflow upserts them, so each filter has something to find."""

    def __init__(self) -> None:
        self._state: JourneyState | None = None

    @workflow.run
    async def run(self, state: JourneyState) -> None:
        self._state = state
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def journey(self) -> JourneyState:
        assert self._state is not None
        return self._state


async def start_stand_in(
    client: Client,
    settings: Settings,
    step: Step,
    status: JourneyStatus,
    method: LoginMethod = LoginMethod.GCKEY,
    idle: timedelta = timedelta(minutes=5),
) -> str:
    journey_id = str(uuid.uuid4())
    last = datetime.now(UTC) - idle
    state = JourneyState(journey_id=journey_id, step=step, login_method=method, started_at=last)
    await client.start_workflow(
        "OnboardingWorkflow",
        state,
        id=workflow_id_for(journey_id),
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(search.STEP, step.value),
                SearchAttributePair(search.STATUS, status.value),
                SearchAttributePair(search.LOGIN_METHOD, method.value),
                SearchAttributePair(search.LAST_PROGRESS, last),
            ]
        ),
    )
    return journey_id


def listed(page: Page) -> set[str]:
    return {str(row.attributes["data-journey"]) for row in page.html.css("tr[data-journey]")}


async def test_the_list_filters_by_step_status_method_age_and_stuck(
    client: Client, settings: Settings, staff: Staff
) -> None:
    async with Worker(client, task_queue=settings.task_queue, workflows=[StandInJourney]):
        terms = await start_stand_in(client, settings, Step.TERMS, JourneyStatus.IN_PROGRESS)
        partner = await start_stand_in(
            client,
            settings,
            Step.PARTNER_SIGN_IN,
            JourneyStatus.IN_PROGRESS,
            LoginMethod.SIGN_IN_PARTNER,
        )
        idle = await start_stand_in(
            client,
            settings,
            Step.PASSWORD,
            JourneyStatus.IN_PROGRESS,
            idle=timedelta(hours=settings.stuck_after_hours + 2),
        )
        done = await start_stand_in(
            client, settings, Step.PORTAL, JourneyStatus.COMPLETED, idle=timedelta(days=9)
        )
        everyone = {terms, partner, idle, done}
        query = f"TaskQueue = '{settings.task_queue}'"
        await until(
            lambda: visible(client, query, 4), what="the stand-ins in visibility", timeout=30
        )
        async with browser(settings, client) as b:
            await staff_sign_in(b, staff.auditor)
            page = await b.get("/en/staff/journeys")
            assert listed(page) == everyone
            row = page.html.css_first(f'tr[data-journey="{partner}"]')
            assert row is not None
            assert element(row, ".step").text().strip() == "Waiting for the Sign-In Partner"
            assert element(row, ".login-method").text().strip() == "Sign-In Partner"

            page = await b.get("/en/staff/journeys?step=password")
            assert listed(page) == {idle}
            page = await b.get("/en/staff/journeys?status=completed")
            assert listed(page) == {done}
            page = await b.get("/en/staff/journeys?login_method=sign_in_partner")
            assert listed(page) == {partner}
            page = await b.get(f"/en/staff/journeys?idle_hours={settings.stuck_after_hours}")
            assert listed(page) == {idle, done}
            # Stuck: the idle one; the finished one is old but nobody is expected to move it.
            page = await b.get("/en/staff/journeys?stuck=1")
            assert listed(page) == {idle}
            (reason,) = page.texts(f'tr[data-journey="{idle}"] .stuck li')
            assert reason == f"No progress for more than {settings.stuck_after_hours:g} hours"

            page = await b.get("/en/staff/journeys?idle_hours=soon")
            assert page.status == 400
            assert page.field_error("idle_hours") == (
                "Error: Enter a number of hours greater than 0."
            )
            assert element(page.html, "#idle_hours").attributes["value"] == "soon"

            # French, the same list.
            page = await b.get("/fr/staff/journeys?step=password")
            assert page.h1 == "Parcours d'inscription"
            assert listed(page) == {idle}


async def visible(client: Client, query: str, count: int) -> bool:
    return (await client.count_workflows(query)).count >= count


async def test_the_list_pages_with_the_token_in_its_address(
    client: Client, settings: Settings, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "PAGE_SIZE", 2)
    async with Worker(client, task_queue=settings.task_queue, workflows=[StandInJourney]):
        started = {
            await start_stand_in(client, settings, Step.USERNAME, JourneyStatus.IN_PROGRESS)
            for _ in range(5)
        }
        query = f"TaskQueue = '{settings.task_queue}'"
        await until(lambda: visible(client, query, 5), what="five stand-ins", timeout=30)
        async with browser(settings, client) as b:
            await staff_sign_in(b, staff.support)
            page = await b.get("/en/staff/journeys?step=username")
            seen: list[str] = []
            pages = 0
            while True:
                pages += 1
                assert len(listed(page)) <= 2
                seen += listed(page)
                link = page.html.css_first("a[rel=next]")
                if link is None:
                    break
                href = str(link.attributes["href"])
                assert "step=username" in href and "page=" in href  # filters kept
                page = await b.get(href)
            assert sorted(seen) == sorted(started)
            assert pages == 3


# -- Search, a journey's page, and stuck ---------------------------------------------------


@pytest.fixture
def mail_refused(smtp: MailCatcher) -> Iterator[MailCatcher]:
    smtp.refuse = True
    try:
        yield smtp
    finally:
        smtp.refuse = False


async def test_a_journey_stuck_on_email_is_found_shown_and_resumes(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    staff: Staff,
    mail_refused: MailCatcher,
) -> None:
    smtp = mail_refused
    username = f"Stuck{uuid.uuid4().hex[:6]}"
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    async with new_worker(client, settings), browser(settings, client) as b:
        workflow_id = await begin(client, settings)
        journey_id = journey_id_of(workflow_id)
        await sign_up(client, workflow_id, username)
        handle = journey_handle(client, workflow_id)
        created = await handle.execute_update(
            OnboardingWorkflow.create_account,
            CreateAccountInput(Profile("Ana", "Lemay", address, "", "America/Toronto", "fr")),
        )
        await staff_sign_in(b, staff.support)

        # Found by what the person would tell support: username, e-mail or URN.
        journey_url = f"/en/staff/journeys/{journey_id}"
        for told in (username.lower(), address.upper(), created.urn, format_spaced(created.urn)):
            page = await b.get(f"/en/staff/search?q={told}")
            assert page.url.endswith(journey_url), told
        assert page.text(".name") == "Ana Lemay"
        assert page.text(".username") == username
        assert page.text(".email") == address

        async def retrying() -> bool:
            page = await b.get(journey_url)
            attempts = page.texts(".pending .attempt")
            return bool(attempts) and int(attempts[0]) > 1

        await until(retrying, what="the e-mail activity to retry", timeout=30)
        page = await b.get(journey_url)
        assert page.text(".step") == "Confirming the e-mail address"
        assert page.text(".pending .activity-type") == "send_confirmation_email"
        assert "451" in page.text(".pending .last-failure")
        (reason,) = page.texts(".stuck-box li")
        assert reason.startswith("send_confirmation_email is retrying: attempt ")
        assert "451" in reason

        # The stuck filter finds it among this service's journeys.
        async def in_stuck_list() -> bool:
            return journey_id in listed(await b.get("/en/staff/journeys?stuck=1"))

        await until(in_stuck_list, what="the journey in the stuck list", timeout=30)

        smtp.refuse = False  # the mail server is back: the journey goes on by itself
        await smtp.wait_for(address)

        async def resumed() -> bool:
            page = await b.get(journey_url)
            return not page.html.css(".stuck-box") and not page.texts(".pending .attempt")

        await until(resumed, what="the stuck reason to go", timeout=30)
        page = await b.get(journey_url)
        assert page.text(".not-stuck") == "Nothing holds this journey up."


def format_spaced(urn: str) -> str:
    return f"{urn[0:3]} {urn[3:6]} {urn[6:9]} {urn[9:]}"


async def test_a_search_that_finds_nothing_says_so(
    client: Client, settings: Settings, staff: Staff
) -> None:
    async with browser(settings, client) as b:
        await staff_sign_in(b, staff.auditor)
        page = await b.get("/fr/staff/search?q=personne%40example.ca")
        assert page.status == 400
        assert page.field_error("q") == (
            "Erreur : Aucun parcours n'a ce nom d'utilisateur, cette adresse courriel ou ce NRU."
        )
        assert element(page.html, "#q").attributes["value"] == "personne@example.ca"
        page = await b.get(f"/en/staff/journeys/{uuid.uuid4()}")
        assert page.status == 404
        page = await b.get("/en/staff/journeys/not-a-journey")
        assert page.status == 404


def test_record_audit_keeps_who_what_and_why(settings: Settings, staff: Staff) -> None:
    engine = make_engine(settings.sqlalchemy_url)
    member = staff_member_named(engine, staff.support)
    assert member is not None
    journey_id = str(uuid.uuid4())
    record_audit(engine, member, "extend_deadline", journey_id, "on holiday", {"hours": 48}, "ok")
    (entry,) = audit_entries(engine, journey_id)
    engine.dispose()
    assert (entry.staff_username, entry.staff_role, entry.action) == (
        staff.support,
        "support",
        "extend_deadline",
    )
    assert (entry.reason, entry.detail, entry.outcome) == ("on holiday", '{"hours": 48}', "ok")


async def test_french_staff_pages_show_no_english(
    client: Client, settings: Settings, staff: Staff
) -> None:
    with (ROOT / "i18n" / "messages.pot").open("rb") as f:
        finder = EnglishFinder(read_po(f))
    async with Worker(client, task_queue=settings.task_queue, workflows=[StandInJourney]):
        journey_id = await start_stand_in(
            client, settings, Step.PASSWORD, JourneyStatus.IN_PROGRESS, idle=timedelta(days=2)
        )
        async with browser(settings, client) as b:
            pages = [await b.get("/fr/staff/sign-in")]
            page = await b.submit(pages[0], "staff/sign-in", {"username": "x", "password": "y"})
            pages += [page, await staff_sign_in(b, staff.auditor, "fr")]
            pages += [
                await b.get("/fr/staff/journeys?idle_hours=0"),
                await b.get("/fr/staff/search?q=nobody"),
                await b.get(f"/fr/staff/journeys/{journey_id}"),
            ]
            for page in pages:
                assert element(page.html, "html").attributes.get("lang") == "fr"
                assert finder.in_page(page) == [], page.url
            assert pages[-1].text(".step") == "Choix du mot de passe"
            assert pages[-1].texts(".stuck-box li") == ["Aucun progrès depuis plus de 24 heures"]


async def test_a_journey_temporal_no_longer_holds_still_shows_who(
    client: Client, settings: Settings, staff: Staff
) -> None:
    journey_id = str(uuid.uuid4())
    engine = make_engine(settings.sqlalchemy_url)
    with Session(engine) as session:
        session.add(
            UserAccount(
                journey_id=journey_id,
                default_access="gckey",
                given_name="Léa",
                family_name="Roy",
                email="lea@example.ca",
                time_zone="America/Toronto",
                language="fr",
                created_at=datetime.now(UTC),
            )
        )
        session.commit()
    engine.dispose()
    async with browser(settings, client) as b:
        await staff_sign_in(b, staff.auditor)
        page = await b.get("/en/staff/search?q=LEA@example.ca")
        assert page.url.endswith(f"/en/staff/journeys/{journey_id}")
        assert page.text(".name") == "Léa Roy"
        assert page.text(".notice") == (
            "Temporal no longer holds this journey. Its history is kept in the archive."
        )
