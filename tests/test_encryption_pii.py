"""What Temporal holds, read as anyone who can reach it would read it (no key): after a whole
journey, a password reset, each support action, sign-ins that lock, and an archive sweep,
every history of the run, every id, search attribute, memo and failure is dumped, and none
holds a given name, family name, e-mail address, telephone number, username, recovery hint
or hash. The archive's copies neither."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from core.hashing import hash_password
from settings import Settings
from tests.archive_helpers import archive_now, archived
from tests.conftest import MailCatcher, NewWorker, history_bytes, until
from tests.journeys import (
    HINTS,
    at_portal,
    begin,
    choose_credentials,
    journey_handle,
    link_number_in,
)
from web.journeys import journey_id_of
from web.resets import Resets
from workflows.onboarding import OnboardingWorkflow
from workflows.reset import PasswordResetWorkflow
from workflows.reset_types import (
    ChooseResetWayInput,
    PasswordResetWorkflowResult,
    RecordVerificationInput,
    ResetWay,
    SetNewPasswordInput,
)
from workflows.types import (
    ConfirmEmailInput,
    CreateAccountInput,
    ExtendDeadlineInput,
    Profile,
    RecordSignInInput,
    SendResumeLinkInput,
    SetRecoveryEmailInput,
    SupportActionInput,
)

# Declared: mypy cannot always solve get_workflow_handle_for alone (tests/journeys.py says so).
Reset = WorkflowHandle[PasswordResetWorkflow, PasswordResetWorkflowResult]


async def test_nothing_personal_and_no_hash_is_readable_in_temporal_or_the_archive(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    tag = uuid.uuid4().hex[:6]
    username = f"Secret{tag}"
    given, family = f"Genevieve{tag}", f"Okonkwo{tag}"
    address, recovery = f"person.{tag}@example.ca", f"recover.{tag}@example.ca"
    telephone = f"613-555-{int(tag, 16) % 10000:04d}"
    resume_to = f"resume.{tag}@example.ca"
    other_username = f"Other{tag}"
    async with new_worker(client, settings):
        workflow_id = await begin(client, settings)
        handle = journey_handle(client, workflow_id)
        await choose_credentials(handle, username)
        await handle.execute_update(
            OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(recovery)
        )
        profile = Profile(given, family, address, telephone, "America/Toronto", "fr")
        await handle.execute_update(OnboardingWorkflow.create_account, CreateAccountInput(profile))
        await handle.execute_update(
            OnboardingWorkflow.resend_confirmation, SupportActionInput("ana", "Not received")
        )
        await handle.execute_update(
            OnboardingWorkflow.extend_deadline, ExtendDeadlineInput("ana", "Away a week", 48)
        )
        messages = await smtp.wait_for(address, 2)
        link = link_number_in(messages[-1], settings.secret_key.get_secret_value())
        await handle.execute_update(OnboardingWorkflow.confirm_email, ConfirmEmailInput(link))
        state = await at_portal(handle)
        for _ in range(settings.lock_after_failures):
            await handle.execute_update(OnboardingWorkflow.record_sign_in, RecordSignInInput(False))
        await handle.execute_update(
            OnboardingWorkflow.unlock_gckey, SupportActionInput("ana", "Identity checked")
        )
        resets = Resets(client, settings)
        reset_id = await resets.start(journey_id_of(workflow_id), state.recovery_question_ids, "fr")
        reset: Reset = client.get_workflow_handle_for(PasswordResetWorkflow.run, reset_id)
        await reset.execute_update(
            PasswordResetWorkflow.choose_way, ChooseResetWayInput(ResetWay.ALL_ANSWERS)
        )
        await reset.execute_update(
            PasswordResetWorkflow.record_verification, RecordVerificationInput(True)
        )
        new_hash = await hash_password("Wombat5Kiwi")
        await reset.execute_update(
            PasswordResetWorkflow.set_new_password, SetNewPasswordInput(new_hash)
        )
        await reset.result()

        # A journey support sends a resume link to (the mail server refusing it once, so a
        # failure is recorded), then cancels: it closes and is archived.
        other = await begin(client, settings)
        other_handle = journey_handle(client, other)
        await choose_credentials(other_handle, other_username)
        await other_handle.execute_update(
            OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(resume_to)
        )
        smtp.refuse = True
        try:
            await other_handle.execute_update(
                OnboardingWorkflow.send_resume_link,
                SendResumeLinkInput("ana", "Asked by phone", resume_to),
            )

            async def retrying() -> bool:
                pending = (await other_handle.describe()).raw_description.pending_activities
                return bool(pending) and pending[0].attempt > 1

            await until(retrying, what="the resume e-mail to be refused once")
        finally:
            smtp.refuse = False
        await smtp.wait_for(resume_to)
        await other_handle.execute_update(
            OnboardingWorkflow.cancel, SupportActionInput("ana", "Duplicate journey")
        )
        await other_handle.result()
        await archive_now(client, settings, other)

        secrets = [username, other_username, given, family, address, recovery, telephone]
        secrets += [resume_to, *HINTS]
        secrets = [s for s in secrets if s] + ["argon2", new_hash]

        listed = [e async for e in client.list_workflows(f"TaskQueue = '{settings.task_queue}'")]
        kinds = {e.workflow_type for e in listed}
        assert {"OnboardingWorkflow", "PasswordResetWorkflow", "ArchiveWorkflow"} <= kinds
        dumped = b""
        for execution in listed:
            history = await client.get_workflow_handle(
                execution.id, run_id=execution.run_id
            ).fetch_history()
            dumped += history_bytes(history)
            dumped += execution.id.encode() + execution.run_id.encode()
            dumped += execution.raw_info.SerializeToString()  # search attributes and memo
            described = await client.get_workflow_handle(execution.id).describe()
            dumped += described.raw_description.SerializeToString()  # pending failures too
        for row in archived(settings).values():
            dumped += history_bytes(WorkflowHistory.from_json(row.workflow_id, row.history_json))
        # The mail server's refusal is in history, as a failure whose text is encrypted.
        assert b"Encoded failure" in dumped and b"4.3.0" not in dumped
        found = [s for s in secrets if s.encode() in dumped]
        assert found == []
