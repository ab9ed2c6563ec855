"""The rules of signing in: the same answer for an unknown username and a wrong password,
consecutive failures lock the GCKey for a while, a GCKey unused for two years expires, and
Forgot your password? both GCKey ways, as a workflow of its own that keeps no secret."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from email.message import EmailMessage

from sqlmodel import Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from db.engine import make_engine
from db.models import GCKey
from db.queries import issued_gckey
from i18n import format_when
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, decoded_bytes, text_of, until
from tests.journeys import (
    PASSWORD,
    begin,
    journey_handle,
    new_address,
    new_username,
    sign_up,
    terminate_if_running,
    to_portal,
)
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import ANSWERS, Browser, Page, answers_for, browser
from tests.web_helpers import sign_up as web_walk_sign_up
from workflows.onboarding import OnboardingWorkflow
from workflows.types import RecordSignInInput, SignInOutcome, Step

NEW_PASSWORD = "Wombat5Kiwi"


async def web_sign_up(b: Browser, username: str, email: str = "") -> Page:
    """GCKey Sign Up over the site (with the recovery e-mail if given), then Continue and
    Sign out, as someone who will come back."""
    page = await web_walk_sign_up(b, "en", username, email)
    assert page.h1 == "Your GCKey has been issued"
    page = await b.submit(page, "issued")
    return await b.submit(page, "sign-out")


async def sign_in(b: Browser, username: str, password: str) -> Page:
    return await b.submit(
        await b.get("/en/gckey/sign-in"), "sign-in", {"username": username, "password": password}
    )


def issued_gckey_id(settings: Settings, username: str) -> str:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        gckey = issued_gckey(engine, username)
        assert gckey is not None
        return gckey.journey_id
    finally:
        engine.dispose()


async def test_an_unknown_username_and_a_wrong_password_get_the_same_answer(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    username = f"Same{uuid.uuid4().hex[:6]}"
    async with new_worker(client, settings), browser(settings, client) as b:
        await web_sign_up(b, username)
        wrong_password = await sign_in(b, username, "Wrong7Password")
        unknown_user = await sign_in(b, f"Nobody{uuid.uuid4().hex[:6]}", "Wrong7Password")
    for page in (wrong_password, unknown_user):
        assert page.status == 400
        assert page.text(".error-summary li") == (
            "The username or password you entered is incorrect."
        )
        assert page.field_error("sign_in") == (
            "Error: The username or password you entered is incorrect."
        )
    # The pages differ only by the username typed back into its field.
    without_username = [
        re.sub(r'name="username" type="text" value="[^"]*"', "", p.response.text)
        for p in (wrong_password, unknown_user)
    ]
    # The session's CSRF token, and the Sign Up form's id, fresh at every render (web/forms.py).
    csrf = re.compile(r'name="(csrf_token|form_id)" value="[^"]*"')
    assert csrf.sub("", without_username[0]) == csrf.sub("", without_username[1])


def main_of(page: Page) -> str:
    """The page's main content as parsed, the whole of what a person reads."""
    node = page.html.css_first("main")
    assert node is not None
    # The Sign Up form's id is fresh at every render (web/forms.py); nobody reads it.
    return re.sub(r'name="form_id" value="[^"]*"', 'name="form_id"', str(node.html))


def words(text: str) -> str:
    """Spaces of every kind (Babel's times hold narrow no-break ones) as one plain space."""
    return " ".join(text.split())


async def lock_notices(smtp: MailCatcher, address: str, subject: str) -> list[EmailMessage]:
    await until(
        lambda: any(m["Subject"] == subject for m in smtp.to(address)), what="the lock notice"
    )
    return [m for m in smtp.to(address) if m["Subject"] == subject]


async def test_failures_lock_the_gckey_the_owner_is_told_and_a_new_password_ends_the_lock(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    settings.lock_after_failures = 3
    username = f"Lock{uuid.uuid4().hex[:6]}"
    address = new_address()
    async with new_worker(client, settings), browser(settings, client) as b:
        await web_sign_up(b, username, address)
        for _ in range(3):
            page = await sign_in(b, username, "Wrong7Password")
            assert page.h1 == "Welcome to GCKey" and page.status == 400
        # While it is locked the right password reads, word for word, as a wrong one: a
        # guesser cannot tell when they hit it. The owner learns of the lock by e-mail.
        right = await sign_in(b, username, PASSWORD)
        wrong = await sign_in(b, username, "Wrong7Password")
        assert right.status == wrong.status == 400
        assert main_of(right) == main_of(wrong)
        assert right.text(".error-summary li") == (
            "The username or password you entered is incorrect."
        )
        assert "not even the right one" in right.text("main")
        assert b.session().get("auth") is None
        workflow_id = f"onboarding-{issued_gckey_id(settings, username)}"
        handle = journey_handle(client, workflow_id)
        state = await handle.query(OnboardingWorkflow.journey)
        assert state.locks == 1 and state.locked_until is not None
        assert state.attempts_while_locked == 2 and state.last_attempt_while_locked_at
        (notice,) = await lock_notices(smtp, address, "Your GCKey is locked for now")
        assert notice["Content-Language"] == "en"
        text = words(text_of(notice))
        assert "There were 3 incorrect sign in attempts in a row" in text
        assert f"locked until {words(format_when(state.locked_until, 'en'))}" in text
        assert "http://testserver/en/gckey/forgot-password" in text

        # Forgot your password? with every recovery answer ends the lock.
        page = await b.submit(
            await b.get("/en/gckey/forgot-password"), "forgot-password", {"username": username}
        )
        assert page.h1 == "Confirm it is you"
        page = await b.submit(page, "way", {"way": "all_answers"})
        page = await b.submit(page, "verify", {"answer": answers_for(page)})
        assert page.h1 == "Create a New Password"
        page = await b.submit(
            page, "new-password", {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
        )
        assert page.h1 == "Your password has been changed"
        page = await sign_in(b, username, PASSWORD)
        assert page.status == 400  # the old password no longer opens it
        page = await sign_in(b, username, NEW_PASSWORD)
        assert page.h1 in ("Welcome to CERS", "CERS portal")
        assert b.session()["auth"] == workflow_id
        state = await handle.query(OnboardingWorkflow.journey)
        assert state.locks == 1 and state.locked_until is None and state.password_reset_at
        history = await decoded_bytes(await handle.fetch_history(), settings.payload_ring)
        assert history.count(b"record_sign_in") >= 6 and b"send_lock_notice" in history
        for secret in (PASSWORD, NEW_PASSWORD, "Wrong7Password", *ANSWERS.values()):
            assert secret.encode() not in history


async def test_a_locked_gckey_reads_the_same_in_french_and_staff_see_the_attempts(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """No recovery e-mail: the notice goes to the CERS account's address, in the account's
    language and time zone."""
    settings.lock_after_failures = 3
    username = f"Verr{uuid.uuid4().hex[:6]}"
    address = new_address()
    staff = Staff(settings)
    async with (
        new_worker(client, settings),
        browser(settings, client) as b,
        browser(settings, client) as desk,
    ):
        page = await web_walk_sign_up(b, "fr", username)
        page = await b.submit(page, "issued")
        page = await b.get("/fr/cers/account")
        account = {
            "given_name": "Jeanne",
            "family_name": "Tremblay",
            "email": address,
            "time_zone": "America/Vancouver",
            "language": "fr",
        }
        page = await b.submit(page, "account", account)
        workflow_id = b.session()["auth"]
        await b.submit(page, "sign-out")
        for _ in range(3):
            page = await b.submit(
                await b.get("/fr/gckey/sign-in"),
                "sign-in",
                {"username": username, "password": "Wrong7Password"},
            )
        pages = [
            await b.submit(
                await b.get("/fr/gckey/sign-in"),
                "sign-in",
                {"username": name, "password": password},
            )
            for name, password in (
                (username, PASSWORD),
                (username, "Wrong7Password"),
                (f"Personne{uuid.uuid4().hex[:6]}", PASSWORD),
            )
        ]
        right, wrong, unknown = pages
        assert right.status == wrong.status == unknown.status == 400
        assert main_of(right) == main_of(wrong)
        typed = re.compile(r'name="username" type="text" value="[^"]*"')
        assert typed.sub("", main_of(unknown)) == typed.sub("", main_of(right))
        assert right.text(".error-summary li") == (
            "Le nom d'utilisateur ou le mot de passe que vous avez saisi est incorrect."
        )
        handle = journey_handle(client, workflow_id)
        state = await handle.query(OnboardingWorkflow.journey)
        assert state.attempts_while_locked == 2 and state.locked_until is not None
        (notice,) = await lock_notices(smtp, address, "Votre CléGC est verrouillée pour le moment")
        assert notice["Content-Language"] == "fr"
        text = words(text_of(notice))
        until_then = format_when(state.locked_until, "fr", "America/Vancouver")
        assert f"verrouillée jusqu'au {words(until_then)}" in text
        assert "(heure" in until_then and "Pacifique" in until_then
        assert "http://testserver/fr/gckey/forgot-password" in text

        await staff_sign_in(desk, staff.support)
        page = await desk.get(f"/en/staff/journeys/{workflow_id.removeprefix('onboarding-')}")
        assert page.text(".attempts-while-locked") == "2"
        assert page.text(".last-attempt-while-locked") != "None"
        assert page.text(".locks") == "1"
        # While locked, the count that locked it, not the count begun again at 0.
        assert page.text(".failed-sign-ins") == "3, which locked the GCKey"
        timeline = await desk.get(
            f"/en/staff/journeys/{workflow_id.removeprefix('onboarding-')}/timeline"
        )
        sign_ins = [
            row
            for row in timeline.texts("table.timeline tbody td:nth-child(2)")
            if row.startswith("GCKey sign-in")
        ]
        assert sign_ins == [
            "GCKey sign-in refused: wrong username or password.",
            "GCKey sign-in refused: wrong username or password.",
            "GCKey sign-in refused: wrong username or password; that failure locked the GCKey.",
            "GCKey sign-in refused: the GCKey is locked.",
            "GCKey sign-in refused: the GCKey is locked.",
        ]


async def test_forgot_password_with_the_emailed_code_and_one_answer(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    username = f"Code{uuid.uuid4().hex[:6]}"
    address = new_address()
    async with new_worker(client, settings), browser(settings, client) as b:
        await web_sign_up(b, username, address)
        page = await b.get("/fr/gckey/forgot-password")
        assert page.h1 == "Mot de passe oublié ?"  # a no-break space, as the text reads it
        page = await b.submit(page, "forgot-password", {"username": username})
        page = await b.submit(page, "way", {"way": "email_code"})
        assert page.html.css_first("#code") is not None
        assert len(page.texts("label[for^=answer_]")) == 1  # one recovery answer with the code
        (message,) = await smtp.wait_for(address)
        assert message["Subject"] == "Votre code de confirmation CléGC"
        match = re.search(r"\b(\d{6})\b", message.get_content())
        assert match is not None
        code = match.group(1)
        page = await b.get("/en/gckey/forgot-password/verify")
        not_the_code = f"{(int(code) + 1) % 10**6:06d}"
        wrong = await b.submit(page, "verify", {"code": not_the_code, "answer": answers_for(page)})
        assert wrong.status == 400
        assert wrong.text(".error-summary li") == (
            "The information you entered does not match our records."
        )
        assert "You have 2 attempts left." in wrong.text("main")
        page = await b.submit(wrong, "verify", {"code": code, "answer": answers_for(wrong)})
        assert page.h1 == "Create a New Password"
        page = await b.submit(page, "new-password", {"password": "short", "confirmation": "short"})
        assert page.status == 400 and page.field_error("password")  # the same rules as Sign Up
        page = await b.submit(
            page, "new-password", {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
        )
        assert page.h1 == "Your password has been changed"
        reset_id = b.session().get("reset")
        assert reset_id is None  # finished: the browser forgets it
        page = await sign_in(b, username, NEW_PASSWORD)
        assert page.h1 in ("Welcome to CERS", "CERS portal")
    resets = [w async for w in client.list_workflows("WorkflowType = 'PasswordResetWorkflow'")]
    histories = [
        await decoded_bytes(
            await client.get_workflow_handle(w.id).fetch_history(), settings.payload_ring
        )
        for w in resets
    ]
    assert histories and any(b"email_code" in h for h in histories)
    for history in histories:
        for secret in (code, NEW_PASSWORD, PASSWORD, *ANSWERS.values()):
            assert secret.encode() not in history


async def test_a_new_code_invalidates_the_old_one(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """A second attempt's code e-mail ends the first attempt's code, in that attempt too (an
    old tab, or its cookie kept): only the newest code sent for a GCKey works."""
    username = f"Twice{uuid.uuid4().hex[:6]}"
    address = new_address()

    async def code_asked(b: Browser) -> Page:
        page = await b.submit(
            await b.get("/en/gckey/forgot-password"), "forgot-password", {"username": username}
        )
        return await b.submit(page, "way", {"way": "email_code"})

    async with new_worker(client, settings), browser(settings, client) as old:
        await web_sign_up(old, username, address)
        old_page = await code_asked(old)
        (first,) = await smtp.wait_for(address)
        async with browser(settings, client) as new:
            new_page = await code_asked(new)
            second = (await smtp.wait_for(address, 2))[1]
            old_code, new_code = (code_in(m.get_content()) for m in (first, second))
            refused = [
                await b.submit(page, "verify", {"code": old_code, "answer": answers_for(page)})
                for b, page in ((new, new_page), (old, old_page))
            ]
            assert [page.status for page in refused] == [400, 400]
            assert refused[1].text(".error-summary li") == (
                "The information you entered does not match our records."
            )
            page = await new.submit(
                refused[0], "verify", {"code": new_code, "answer": answers_for(refused[0])}
            )
            assert page.h1 == "Create a New Password"


def code_in(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match, text
    return match.group(1)


async def test_wrong_answers_end_the_reset_and_an_unknown_username_looks_the_same(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    username = f"Miss{uuid.uuid4().hex[:6]}"
    async with new_worker(client, settings), browser(settings, client) as b:
        await web_sign_up(b, username)
        pages = []
        for name in (username, f"Nobody{uuid.uuid4().hex[:6]}"):
            page = await b.submit(
                await b.get("/en/gckey/forgot-password"), "forgot-password", {"username": name}
            )
            page = await b.submit(page, "way", {"way": "all_answers"})
            assert len(page.texts("label[for^=answer_]")) == 3
            for left in (2, 1):
                page = await b.submit(page, "verify", {"answer": ["no", "no", "no"]})
                assert page.status == 400 and f"You have {left} attempts left." in page.text("main")
            page = await b.submit(page, "verify", {"answer": ["no", "no", "no"]})
            pages.append(page)
        for page in pages:
            assert page.status == 410 and page.h1 == "Your password could not be reset"
        page = await sign_in(b, username, PASSWORD)  # unchanged
        assert page.h1 in ("Welcome to CERS", "CERS portal")


async def test_lockout_ends_by_itself_after_its_time(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker
) -> None:
    client = time_env.client
    async with new_worker(client, settings):
        workflow_id = await begin(client, settings)
        await sign_up(client, workflow_id, new_username())
        handle = journey_handle(client, workflow_id)
        try:
            outcomes = [
                (
                    await handle.execute_update(
                        OnboardingWorkflow.record_sign_in, RecordSignInInput(False)
                    )
                ).outcome
                for _ in range(5)
            ]
            assert outcomes == [SignInOutcome.FAILED] * 4 + [SignInOutcome.LOCKED]
            locked = await handle.execute_update(
                OnboardingWorkflow.record_sign_in, RecordSignInInput(True)
            )
            assert locked.outcome is SignInOutcome.LOCKED and locked.locked_until
            await time_env.sleep(timedelta(minutes=19))
            still = await handle.execute_update(
                OnboardingWorkflow.record_sign_in, RecordSignInInput(True)
            )
            assert still.outcome is SignInOutcome.LOCKED
            await time_env.sleep(timedelta(minutes=2))
            after = await handle.execute_update(
                OnboardingWorkflow.record_sign_in, RecordSignInInput(True)
            )
            assert after.outcome is SignInOutcome.SIGNED_IN
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.locks == 1 and state.failed_sign_ins == 0
        finally:
            await terminate_if_running(handle)


async def test_a_gckey_unused_for_two_years_expires_and_use_keeps_it(
    time_env: WorkflowEnvironment, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    client = time_env.client
    username = new_username()
    async with new_worker(client, settings), browser(settings, client) as b:
        handle = await to_portal(client, settings, smtp, username)
        workflow_id = handle.id
        try:
            await time_env.sleep(timedelta(days=700))
            page = await sign_in(b, username, PASSWORD)  # a use starts the two years again
            assert page.h1 == "CERS portal"
            await b.submit(page, "sign-out")
            await time_env.sleep(timedelta(days=700))
            state = await handle.query(OnboardingWorkflow.journey)
            assert state.step is Step.PORTAL and state.gckey_expired_at is None
            await time_env.sleep(timedelta(days=31))  # 731 days since the last use
            result = await handle.result()
            assert result.step is Step.GCKEY_EXPIRED
        finally:
            await terminate_if_running(handle)
        page = await sign_in(b, username, PASSWORD)
        assert page.status == 403 and page.h1 == "Your GCKey has expired"
        assert "Sign up for a new GCKey" in page.text("main")
        page = await sign_in(b, username, "Wrong7Password")
        assert page.status == 400 and page.h1 == "Welcome to GCKey"
    engine = make_engine(settings.sqlalchemy_url)
    with Session(engine) as session:
        gckey = session.get(GCKey, workflow_id.removeprefix("onboarding-"))
        assert gckey is not None and gckey.expired_at is not None
    engine.dispose()
