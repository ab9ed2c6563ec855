"""Records one history per path of the journey into this folder, for the replay test.

    python -m tests.histories.record [name ...]     (default: the paths with no file yet)

A journey that reached the portal before journeys stayed open after it (completed,
expired_then_new_link) is kept as recorded then: it proves the old branch of
``ACCESS_LIVES_ON`` still replays. Paths that stay open are recorded once they stand still.

Run it when a path is added, never to paper over a replay failure: a history that no longer
replays means the workflow change needs `workflow.patched(...)`.

The stack encrypts every payload with a key ring of its own, gone when it stops; a history is
written decoded, its hashes redacted (audit/readable.py), so it replays in CI with no key.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from temporalio.client import WorkflowHistory

from audit.readable import readable
from core.hashing import hash_password
from core.temporal import reader_of
from devstack.stack import Stack, local_stack
from tests.journeys import (
    ANSWERS,
    Journey,
    at_portal,
    choose_credentials,
    create_account,
    journey_handle,
)
from web.journeys import Journeys, new_workflow_id
from workflows import search
from workflows.inputs import password_reset_input
from workflows.onboarding import OnboardingWorkflow
from workflows.reset import PasswordResetWorkflow
from workflows.reset_types import (
    ChooseResetWayInput,
    RecordVerificationInput,
    ResetWay,
    SetNewPasswordInput,
)
from workflows.types import (
    PASSWORD_RESET_ID_PREFIX,
    AnswerTermsInput,
    ChangeEmailInput,
    ChooseUsernameInput,
    ConfirmationStatus,
    ConfirmEmailInput,
    ExtendDeadlineInput,
    LinkPartnerInput,
    LoginMethod,
    RecordPartnerAttemptInput,
    RecordSignInInput,
    RequestNewLinkInput,
    SendResumeLinkInput,
    SetRecoveryEmailInput,
    SupportActionInput,
    UseResumeLinkInput,
)

HERE = Path(__file__).parent
log = logging.getLogger("record")


async def completed(handle: Journey) -> None:
    await choose_credentials(handle, f"Histo{uuid.uuid4().hex[:6]}")
    await handle.execute_update(
        OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput("recover@example.ca")
    )
    await create_account(handle, "completed@example.ca")
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(1))


async def declined_terms(handle: Journey) -> None:
    await handle.execute_update(
        OnboardingWorkflow.answer_terms, AnswerTermsInput(accepted=False, terms_version="2024-07")
    )


async def expired_then_new_link(handle: Journey) -> None:
    await choose_credentials(handle, f"Histo{uuid.uuid4().hex[:6]}")
    await handle.execute_update(OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(""))
    await create_account(handle, "expired@example.ca")
    while (await handle.query(OnboardingWorkflow.journey)).confirmation is not (
        ConfirmationStatus.EXPIRED
    ):
        await asyncio.sleep(0.2)
    await handle.execute_update(OnboardingWorkflow.request_new_link, RequestNewLinkInput())
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(2))


async def signed_in_locked_and_reset(handle: Journey, stack: Stack) -> None:
    """At the portal: a sign-in, five failures that lock the GCKey, then Forgot your password?
    with every recovery answer, whose own history is recorded as password_reset."""
    await completed(handle)
    await at_portal(handle)
    for matched in [True] + [False] * 5:
        await handle.execute_update(OnboardingWorkflow.record_sign_in, RecordSignInInput(matched))
    state = await handle.query(OnboardingWorkflow.journey)
    reset_id = str(uuid.uuid4())
    reset = await stack.client.start_workflow(
        PasswordResetWorkflow.run,
        password_reset_input(
            stack.settings,
            reset_id=reset_id,
            journey_id=state.journey_id,
            question_ids=state.recovery_question_ids,
            language="fr",
        ),
        id=PASSWORD_RESET_ID_PREFIX + reset_id,
        task_queue=stack.settings.task_queue,
    )
    await reset.execute_update(
        PasswordResetWorkflow.choose_way, ChooseResetWayInput(ResetWay.ALL_ANSWERS)
    )
    await reset.execute_update(
        PasswordResetWorkflow.record_verification, RecordVerificationInput(True)
    )
    await reset.execute_update(
        PasswordResetWorkflow.set_new_password,
        SetNewPasswordInput(await hash_password("Wombat5Kiwi")),
    )
    await reset.result()
    (HERE / "password_reset.json").write_text(await kept(stack, await reset.fetch_history()))
    assert ANSWERS  # the answers were hashed before they reached the journey


async def sign_in_partner(handle: Journey, stack: Stack) -> None:
    """A Sign-In Partner journey to the portal, then an unknown partner id coming back."""
    await handle.execute_update(
        OnboardingWorkflow.link_partner, LinkPartnerInput("http://127.0.0.1:9400", "pairwise-1")
    )
    await create_account(handle, "partner@example.ca")
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(1))
    await at_portal(handle)
    await handle.execute_update(
        OnboardingWorkflow.record_partner_attempt, RecordPartnerAttemptInput("http://other")
    )


async def gckey_expired(handle: Journey, stack: Stack) -> None:
    """At the portal, then unused until the GCKey expires (seconds here, two years live)."""
    await completed(handle)
    await handle.result()


async def cancelled_by_support(handle: Journey, stack: Stack) -> None:
    """Stopped at the username; support cancels it with a reason."""
    await handle.execute_update(
        OnboardingWorkflow.answer_terms, AnswerTermsInput(accepted=True, terms_version="2024-07")
    )
    await handle.execute_update(
        OnboardingWorkflow.cancel, SupportActionInput("ana", "Duplicate of another journey")
    )
    await handle.result()


async def abandoned_at_password(handle: Journey, stack: Stack) -> None:
    """Left at the password after choosing a username, until the abandon period ends (seconds
    here, 30 days live): the username is released."""
    await handle.execute_update(
        OnboardingWorkflow.answer_terms, AnswerTermsInput(accepted=True, terms_version="2024-07")
    )
    await handle.execute_update(
        OnboardingWorkflow.choose_username, ChooseUsernameInput(f"Histo{uuid.uuid4().hex[:6]}")
    )
    await handle.result()


async def helped_by_support(handle: Journey, stack: Stack) -> None:
    """Support resends the confirmation and extends its deadline; later unlocks the GCKey."""
    await choose_credentials(handle, f"Histo{uuid.uuid4().hex[:6]}")
    await handle.execute_update(OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(""))
    await create_account(handle, "helped@example.ca")
    await handle.execute_update(
        OnboardingWorkflow.resend_confirmation, SupportActionInput("ana", "E-mail not received")
    )
    await handle.execute_update(
        OnboardingWorkflow.extend_deadline, ExtendDeadlineInput("ana", "Away until Monday", 96)
    )
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(2))
    await at_portal(handle)
    for _ in range(5):
        await handle.execute_update(OnboardingWorkflow.record_sign_in, RecordSignInInput(False))
    await handle.execute_update(
        OnboardingWorkflow.unlock_gckey, SupportActionInput("ana", "Identity checked by phone")
    )
    await handle.execute_update(OnboardingWorkflow.record_sign_in, RecordSignInInput(True))


async def kept(stack: Stack, history: WorkflowHistory) -> str:
    """The history as committed: decoded with the stack's ring, hashes redacted."""
    reader = reader_of(stack.client.data_converter, stack.settings.payload_ring)
    return (await readable(history, reader)).to_json()


async def mail_gone(handle: Journey) -> None:
    """Stands still once no activity is pending (the e-mail it started has been taken)."""
    while (await handle.describe()).raw_description.pending_activities:
        await asyncio.sleep(0.2)


async def locked_with_notice(handle: Journey, stack: Stack) -> None:
    """At the portal, five failures lock the GCKey and its owner is e-mailed (at the recovery
    address); two sign-ins tried during the lock, the right password and a wrong one, are
    answered alike and counted; then support unlocks it."""
    await completed(handle)
    await at_portal(handle)
    for matched in [False] * 5 + [True, False]:
        await handle.execute_update(OnboardingWorkflow.record_sign_in, RecordSignInInput(matched))
    await mail_gone(handle)
    await handle.execute_update(
        OnboardingWorkflow.unlock_gckey, SupportActionInput("ana", "Identity checked by phone")
    )


async def counted_by_the_site(handle: Journey, stack: Stack) -> None:
    """At the portal, the sign-ins counted the way the site counts them (db/sign_ins.py) and
    told to the journey: five failures lock the GCKey and its owner is e-mailed, the right
    password during the lock is counted, support unlocks it, and the right password signs in."""
    from datetime import UTC, datetime

    from sqlmodel import Session

    from db import sign_ins
    from db.engine import make_engine
    from db.models import GCKey
    from web.sign_in import lock_rules

    await completed(handle)
    state = await at_portal(handle)
    engine = make_engine(stack.settings.sqlalchemy_url)
    with Session(engine) as session:
        gckey = session.get(GCKey, state.journey_id)
    assert gckey is not None
    rules = lock_rules(stack.settings)

    async def sign_in(matched: bool) -> None:
        decided = sign_ins.record_sign_in(engine, gckey, matched, datetime.now(UTC), rules)
        assert decided is not None and decided.news is not None
        await handle.signal(OnboardingWorkflow.sign_in_decided, decided.news)

    for matched in [False] * 5 + [True]:
        await sign_in(matched)
    await mail_gone(handle)
    await handle.execute_update(
        OnboardingWorkflow.unlock_gckey, SupportActionInput("ana", "Identity checked by phone")
    )
    sign_ins.unlock(engine, state.journey_id, datetime.now(UTC))
    await sign_in(True)
    while (await handle.query(OnboardingWorkflow.journey)).sign_ins_heard < 8:
        await asyncio.sleep(0.2)
    engine.dispose()


async def resumed_by_support(handle: Journey, stack: Stack) -> None:
    """The GCKey issued, stopped before Create User Account: support e-mails a link to the
    recovery address, a second one replaces it, and the person opens that one."""
    await choose_credentials(handle, f"Histo{uuid.uuid4().hex[:6]}")
    await handle.execute_update(
        OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput("recover@example.ca")
    )
    for reason in ("Lost the first e-mail", "Asked again by phone"):
        await handle.execute_update(
            OnboardingWorkflow.send_resume_link,
            SendResumeLinkInput("ana", reason, "recover@example.ca"),
        )
    await handle.execute_update(OnboardingWorkflow.use_resume_link, UseResumeLinkInput(2))
    await mail_gone(handle)


async def mail_refused_then_changed(handle: Journey, stack: Stack) -> None:
    """The mail server refuses the account's address for good (550); the person gives
    another on the portal, and the new link confirms it."""
    stack.mail.unknown.add("nobody@example.ca")
    await choose_credentials(handle, f"Histo{uuid.uuid4().hex[:6]}")
    await handle.execute_update(OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(""))
    await create_account(handle, "nobody@example.ca")
    while (await handle.query(OnboardingWorkflow.journey)).mail_refused is None:
        await asyncio.sleep(0.2)
    await handle.execute_update(
        OnboardingWorkflow.change_email, ChangeEmailInput("somebody@example.ca")
    )
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(2))
    await at_portal(handle)


async def email_failing(handle: Journey) -> bool | None:
    """The journey's CersEmailFailing, as visibility's record of it says."""
    attributes = (await handle.describe()).typed_search_attributes
    return attributes.get(search.EMAIL_FAILING)


async def mail_failing_then_sent(handle: Journey, stack: Stack) -> None:
    """The mail server is down (451) when the confirmation e-mail goes: its first attempts
    fail, the journey says so in visibility and sends again; the server comes back, the e-mail
    goes and the link confirms. At the portal five failures lock the GCKey (its notice e-mailed)
    and support unlocks it: the lock comes and goes in visibility too."""
    stack.mail.refuse = True
    try:
        await choose_credentials(handle, f"Histo{uuid.uuid4().hex[:6]}")
        await handle.execute_update(
            OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput("")
        )
        await create_account(handle, "later@example.ca")
        while not await email_failing(handle):
            await asyncio.sleep(0.2)
    finally:
        stack.mail.refuse = False
    while await email_failing(handle):
        await asyncio.sleep(0.2)
    await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(1))
    await at_portal(handle)
    for _ in range(5):
        await handle.execute_update(OnboardingWorkflow.record_sign_in, RecordSignInInput(False))
    await mail_gone(handle)
    await handle.execute_update(
        OnboardingWorkflow.unlock_gckey, SupportActionInput("ana", "Identity checked by phone")
    )


@dataclass
class Recording:
    walk: Callable[[Journey, Stack], Awaitable[None]]
    settings: dict[str, float] = field(default_factory=dict)
    method: LoginMethod = LoginMethod.GCKEY


def closing(
    walk: Callable[[Journey], Awaitable[None]],
) -> Callable[[Journey, Stack], Awaitable[None]]:
    async def run(handle: Journey, stack: Stack) -> None:
        await walk(handle)
        await handle.result()

    return run


PATHS: dict[str, Recording] = {
    "completed": Recording(closing(completed)),
    "declined_terms": Recording(closing(declined_terms)),
    "expired_then_new_link": Recording(
        closing(expired_then_new_link), {"expire_after_hours": 2 / 3600}
    ),
    "signed_in_locked_and_reset": Recording(signed_in_locked_and_reset),
    "sign_in_partner": Recording(sign_in_partner, method=LoginMethod.SIGN_IN_PARTNER),
    "gckey_expired": Recording(gckey_expired, {"gckey_expire_after_days": 3 / 86400}),
    "cancelled_by_support": Recording(cancelled_by_support),
    "helped_by_support": Recording(helped_by_support),
    "locked_with_notice": Recording(locked_with_notice),
    "counted_by_the_site": Recording(counted_by_the_site),
    "resumed_by_support": Recording(resumed_by_support),
    "mail_refused_then_changed": Recording(mail_refused_then_changed),
    "mail_failing_then_sent": Recording(mail_failing_then_sent),
    "abandoned_at_password": Recording(abandoned_at_password, {"abandon_after_days": 3 / 86400}),
}


async def main(names: list[str]) -> None:
    async with local_stack() as stack:
        for name in names:
            path = PATHS[name]
            settings = stack.settings.model_copy(update=path.settings)
            workflow_id = new_workflow_id()
            await Journeys(stack.client, settings).begin(workflow_id, path.method, "fr")
            handle = journey_handle(stack.client, workflow_id)
            await path.walk(handle, replace(stack, settings=settings))
            history = await handle.fetch_history()
            (HERE / f"{name}.json").write_text(await kept(stack, history))
            log.info("recorded %s: %d events", name, len(history.events))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    missing = [name for name in PATHS if not (HERE / f"{name}.json").exists()]
    asyncio.run(main(sys.argv[1:] or missing))
