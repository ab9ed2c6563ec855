"""A sign-up left before its GCKey is issued, on Temporal's time-skipping test server: after
ABANDON_AFTER_DAYS without progress it ends as abandoned, its username is free for anyone, and
the person coming back in that browser is told their sign-up expired."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import worker
from audit.timeline import build_timeline
from settings import Settings
from tests.changed_workflow import EarlierOnboardingWorkflow
from tests.conftest import NewWorker, as_staff_read_it, until
from tests.journeys import journey_handle, new_username, terminate_if_running
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Browser, Page, browser
from web.journeys import Journeys, journey_id_of, new_workflow_id
from worker import watch_waiting_sign_ups
from workflows.onboarding import OnboardingWorkflow
from workflows.registry import WORKFLOWS
from workflows.types import LoginMethod, Step


async def to_password_step(b: Browser, lang: str, username: str) -> Page:
    page = await b.get(f"/{lang}/login")
    page = await b.get(f"/{lang}/gckey/sign-in")
    page = await b.submit(page, "sign-up")
    page = await b.submit(page, "terms", {"decision": "accept"})
    return await b.submit(page, "username", {"username": username})


async def test_a_sign_up_left_at_the_password_ends_as_abandoned_and_frees_its_username(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker
) -> None:
    client = time_env.client
    username = new_username()
    # The site's clock skips with the server's: the person comes back a month later (their
    # session long past its idle window), as they would.
    skipped = [0.0]

    def clock() -> float:
        return time.time() + skipped[0]

    async def sleep(period: timedelta) -> None:
        await time_env.sleep(period)
        skipped[0] += period.total_seconds()

    async with (
        new_worker(client, settings),
        browser(settings, client, clock) as person,
        browser(settings, client, clock) as other,
    ):
        page = await to_password_step(person, "en", username)
        assert page.h1 == "Create Your Password"
        handle = journey_handle(client, person.session_journey())
        try:
            # A day short of the period: still waiting, the name still held.
            await sleep(timedelta(days=settings.abandon_after_days - 1))
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.step is Step.PASSWORD and state.username == username
            taken = await to_password_step(other, "en", username)
            assert taken.status == 400 and "already been used" in taken.text(".error-summary")

            await sleep(timedelta(days=2))

            async def abandoned() -> bool:
                state = await handle.query(OnboardingWorkflow.journey)
                return state.step is Step.ABANDONED

            await until(abandoned, what="the sign-up abandoned")
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.username == "" and state.abandoned_at is not None
            assert (await handle.result()).step is Step.ABANDONED

            # The person comes back in the same browser, in French: told, and can start again.
            back = await person.get("/fr/gckey/password")
            assert back.h1 == "Votre inscription a expiré"
            again = await person.get("/fr/gckey/sign-in")
            assert again.status == 200

            # Someone else takes the name.
            page = await other.submit(
                await other.get("/en/gckey/username"), "username", {"username": username}
            )
            assert page.h1 == "Create Your Password"
            theirs = journey_handle(client, other.session_journey())
            assert (await theirs.query(OnboardingWorkflow.journey)).username == username

            said = [
                line.says.render(lambda m: m)
                for line in build_timeline(
                    await as_staff_read_it(await handle.fetch_history(), settings.payload_ring)
                )
            ]
            assert said[-2:] == [
                "Sign-up abandoned with no progress; its username is free for anyone again.",
                "Journey ended: the sign-up was abandoned, with no progress for too long.",
            ]
        finally:
            await terminate_if_running(handle)
            if theirs_id := other.session().get("journey"):
                await terminate_if_running(journey_handle(client, theirs_id))


async def test_staff_see_an_abandoned_sign_up_in_plain_words(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """On the real dev server (its visibility behind the staff list), with a period of seconds."""
    settings.abandon_after_days = 2 / 86400
    staff = Staff(settings)
    async with (
        new_worker(client, settings),
        browser(settings, client) as person,
        browser(settings, client) as desk,
    ):
        await to_password_step(person, "en", new_username())
        journey_id = journey_id_of(person.session_journey())
        await staff_sign_in(desk, staff.support)

        async def listed() -> bool:
            page = await desk.get("/en/staff/journeys?status=abandoned")
            return page.html.css_first(f'tr[data-journey="{journey_id}"]') is not None

        await until(listed, what="the abandoned journey in the staff list")
        page = await desk.get("/en/staff/journeys?status=abandoned")
        row = f'tr[data-journey="{journey_id}"]'
        assert page.text(f"{row} .step") == (
            "Abandoned: no progress before a GCKey or Sign-In Partner sign-in"
        )
        assert page.text(f"{row} .status") == "Abandoned"
        french = await desk.get(f"/fr/staff/journeys/{journey_id}")
        assert french.text(".status") == "Abandonné"


async def test_a_partner_journey_waiting_from_before_the_change_ends_as_abandoned(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Begun by the earlier code (the click started it; no abandon timer), then the worker of
    today starts: it tells the waiting journey to watch, and the journey ends as abandoned."""
    settings.abandon_after_days = 2 / 86400
    workflow_id = new_workflow_id()
    handle = journey_handle(client, workflow_id)
    earlier = [EarlierOnboardingWorkflow if w is OnboardingWorkflow else w for w in WORKFLOWS]
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(worker, "WORKFLOWS", earlier)
            async with new_worker(client, settings):
                await Journeys(client, settings).begin(
                    workflow_id, LoginMethod.SIGN_IN_PARTNER, "en"
                )
        events = (await handle.fetch_history()).events
        assert not [e for e in events if e.HasField("timer_started_event_attributes")]

        async with new_worker(client, settings):

            async def told() -> bool:
                return await watch_waiting_sign_ups(client, settings) > 0

            await until(told, what="the waiting journey in Temporal's list")

            async def abandoned() -> bool:
                state = await handle.query(OnboardingWorkflow.journey)
                return state.step is Step.ABANDONED

            await until(abandoned, what="the waiting journey abandoned")
            assert (await handle.result()).step is Step.ABANDONED
        history = await as_staff_read_it(await handle.fetch_history(), settings.payload_ring)
        said = [line.says.render(lambda m: m) for line in build_timeline(history)]
        assert said[1:] == [
            "Login choice: Sign-In Partner, in English.",
            "Begun before unfinished sign-ups were ended: "
            "from now on it ends as abandoned if left.",
            "A waiting period ended.",
            "Journey ended: the sign-up was abandoned, with no progress for too long.",
        ]
    finally:
        await terminate_if_running(handle)
