"""GCKey sign-ins counted by the lock rules in the application database (db/sign_ins.py) and
told to the journey after: exact under concurrency, decided without waiting for the worker,
and no way around a lock or an expiry for a GCKey the count does not know yet."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, delete
from temporalio.client import Client

from db.engine import make_engine
from db.models import GCKey, GCKeySignIns
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.journeys import PASSWORD, begin, journey_handle, sign_up, terminate_if_running
from tests.test_sign_in import issued_gckey_id, sign_in, web_sign_up
from tests.web_helpers import browser
from workflows.onboarding import OnboardingWorkflow
from workflows.types import RecordSignInInput, SignInDecidedInput, SignInOutcome


def count_of(settings: Settings, journey_id: str) -> GCKeySignIns | None:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with Session(engine) as session:
            return session.get(GCKeySignIns, journey_id)
    finally:
        engine.dispose()


async def test_fifty_simultaneous_wrong_passwords_lock_the_gckey_once(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    smtp: MailCatcher,
    database_url: str,
) -> None:
    settings.database_url = database_url
    username = f"Many{uuid.uuid4().hex[:6]}"
    address = f"many-{uuid.uuid4().hex[:8]}@example.ca"
    async with new_worker(client, settings), browser(settings, client) as b:
        await web_sign_up(b, username, address)
        page = await b.get("/en/gckey/sign-in")
        action, fields = page.form("sign-in")
        data = {**fields, "username": username, "password": "Wrong7Password"}
        answers = await asyncio.gather(*(b.http.post(action, data=data) for _ in range(50)))
        assert [a.status_code for a in answers] == [400] * 50
        journey_id = issued_gckey_id(settings, username)
        count = count_of(settings, journey_id)
        assert count is not None
        # Five failures locked it, once; the other 45 were counted as attempts while locked.
        assert (count.locks, count.failures_that_locked, count.attempts_while_locked) == (1, 5, 45)
        assert count.version == 50 and count.locked_until is not None
        page = await sign_in(b, username, PASSWORD)
        assert page.status == 400 and b.session().get("auth") is None  # still locked
        handle = journey_handle(client, f"onboarding-{journey_id}")

        async def heard_all() -> bool:
            state = await handle.query(OnboardingWorkflow.journey)
            return state.sign_ins_heard == 51

        await until(heard_all, what="the journey told of every sign-in")
        state = await handle.query(OnboardingWorkflow.journey)
        assert state.locks == 1 and state.attempts_while_locked == 46

        def notices() -> list[str]:
            return [m["Subject"] for m in smtp.to(address) if "locked" in m["Subject"]]

        await until(lambda: bool(notices()), what="the lock notice")
        await asyncio.sleep(1)  # a second notice, were there one, would be on its way by now
        assert notices() == ["Your GCKey is locked for now"]


async def test_a_sign_in_is_decided_while_no_worker_runs_and_the_journey_hears_of_it_after(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """What makes an uncached journey cheap: the verdict waits on no workflow task. With the
    worker stopped (the extreme of a journey out of its cache) the right password signs in,
    and the journey records the use when a worker runs again."""
    username = f"Away{uuid.uuid4().hex[:6]}"
    async with browser(settings, client) as b:
        async with new_worker(client, settings):
            await web_sign_up(b, username)
        journey_id = issued_gckey_id(settings, username)
        action, fields = (await b.get("/en/gckey/sign-in")).form("sign-in")
        data = {**fields, "username": username, "password": PASSWORD}
        # Not followed: the page it leads to asks the journey where it stands (issue 12, 1).
        answer = await b.http.post(action, data=data, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].endswith("/en/cers")
        assert b.session()["auth"] == f"onboarding-{journey_id}"
        count = count_of(settings, journey_id)
        assert count is not None and count.last_signed_in_at is not None
        handle = journey_handle(client, f"onboarding-{journey_id}")
        async with new_worker(client, settings):
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.sign_ins_heard == 1 and state.last_signed_in_at is not None


async def test_a_gckey_locked_before_counts_were_kept_here_stays_locked(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """A journey locked by the old way (record_sign_in) with no count in the database, as
    every GCKey issued before this one was: the first sign-in takes the journey's count,
    so the right password still opens nothing."""
    settings.lock_after_failures = 3
    username = f"Olde{uuid.uuid4().hex[:6]}"
    async with new_worker(client, settings), browser(settings, client) as b:
        workflow_id = await begin(client, settings)
        await sign_up(client, workflow_id, username)
        handle = journey_handle(client, workflow_id)
        try:
            for _ in range(3):
                await handle.execute_update(
                    OnboardingWorkflow.record_sign_in, RecordSignInInput(False)
                )
            journey_id = workflow_id.removeprefix("onboarding-")
            engine = make_engine(settings.sqlalchemy_url)
            with Session(engine) as session:
                session.exec(delete(GCKeySignIns).where(GCKeySignIns.journey_id == journey_id))  # type: ignore[arg-type]
                session.commit()
            engine.dispose()
            page = await sign_in(b, username, PASSWORD)
            assert page.status == 400 and b.session().get("auth") is None
            count = count_of(settings, journey_id)
            assert count is not None and count.locks == 1 and count.locked_until is not None
            assert count.attempts_while_locked == 1
        finally:
            await terminate_if_running(handle)


async def test_a_gckey_past_its_expiry_opens_to_nothing_before_its_journey_expires_it(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """The count knows the last use: a GCKey unused for the expiry period is refused even
    while its journey has not yet run its expiry (a worker that was down, a timer late)."""
    username = f"Late{uuid.uuid4().hex[:6]}"
    async with new_worker(client, settings), browser(settings, client) as b:
        await web_sign_up(b, username)
        journey_id = issued_gckey_id(settings, username)
        engine = make_engine(settings.sqlalchemy_url)
        with Session(engine) as session:
            gckey = session.get(GCKey, journey_id)
            assert gckey is not None
            gckey.issued_at = datetime.now(UTC) - timedelta(days=731)
            session.add(gckey)
            session.commit()
        engine.dispose()
        page = await sign_in(b, username, PASSWORD)
        assert page.status == 403 and page.h1 == "Your GCKey has expired"
        assert b.session().get("auth") is None
        page = await sign_in(b, username, "Wrong7Password")
        assert page.status == 400


async def test_the_journey_applies_only_news_newer_than_it_has(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """Signals from simultaneous sign-ins may arrive out of order: an older count is not
    applied over a newer one, and a lock is told to its owner once."""
    async with new_worker(client, settings):
        workflow_id = await begin(client, settings)
        await sign_up(client, workflow_id, f"Ordr{uuid.uuid4().hex[:6]}")
        handle = journey_handle(client, workflow_id)
        try:
            now = datetime.now(UTC)
            until_then = now + timedelta(minutes=20)
            newer = SignInDecidedInput(
                7,
                SignInOutcome.LOCKED,
                now,
                attempts_while_locked=2,
                locks=1,
                locked_until=until_then,
                failures_that_locked=5,
            )
            older = SignInDecidedInput(
                6,
                SignInOutcome.LOCKED,
                now,
                locked_now=True,
                attempts_while_locked=1,
                locks=1,
                locked_until=until_then,
                failures_that_locked=5,
            )
            await handle.signal(OnboardingWorkflow.sign_in_decided, newer)
            await handle.signal(OnboardingWorkflow.sign_in_decided, older)
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.sign_ins_heard == 7 and state.attempts_while_locked == 2
            assert state.locks == 1 and state.locked_until == until_then
        finally:
            await terminate_if_running(handle)
