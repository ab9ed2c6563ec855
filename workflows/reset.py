"""Forgot password, the GCKey way: a workflow of its own, one per attempt."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityHandle

with workflow.unsafe.imports_passed_through():
    # As in workflows/onboarding.py: email_validator passed through for rules' e-mail
    # check, and rules imported by its own name, which the sandbox passes through.
    import email_validator  # noqa: F401

    import workflows.rules as rules
    from activities.accounts import AccountActivities
    from activities.reset import PasswordResetActivities
    from workflows.activity_types import (
        StoreGCKeyPasswordInput,
    )
    from workflows.journey import DB_CALL, MAIL_CALL, invalid
    from workflows.onboarding import OnboardingWorkflow
    from workflows.reset_types import (
        ChooseResetWayInput,
        ChooseResetWayResult,
        PasswordResetWorkflowInput,
        PasswordResetWorkflowResult,
        RecordVerificationInput,
        RecordVerificationResult,
        ResetState,
        ResetStep,
        ResetWay,
        SendResetCodeInput,
        SetNewPasswordInput,
        SetNewPasswordResult,
    )
    from workflows.types import (
        ONBOARDING_ID_PREFIX,
        WRONG_STEP,
        PasswordResetInput,
    )

FINISHED = (ResetStep.DONE, ResetStep.FAILED, ResetStep.EXPIRED)


@workflow.defn
class PasswordResetWorkflow:
    """One "Forgot your password?" attempt for one GCKey, id ``password-reset-<uuid>``.

    Updates, in order: choose_way (a code to the recovery e-mail plus one recovery answer, or
    every recovery answer), record_verification (the site's verdict; too many failures end
    the attempt), set_new_password (a hash; stores it and tells the journey, which ends any
    lock). Query: reset. The attempt expires after ``expire_after_seconds``.
    The code, the answers and the password never enter history: the code is made and hashed
    by an activity, and the site compares what the person typed against the stored hashes.
    """

    @workflow.init
    def __init__(self, input: PasswordResetWorkflowInput) -> None:
        self._input = input
        self._state = ResetState(reset_id=input.reset_id, failures_allowed=input.max_failures)
        self._lock = asyncio.Lock()
        self._sending: ActivityHandle[Any] | None = None

    @workflow.run
    async def run(self, input: PasswordResetWorkflowInput) -> PasswordResetWorkflowResult:
        state = self._state
        state.expires_at = workflow.now() + timedelta(seconds=input.expire_after_seconds)
        try:
            await workflow.wait_condition(
                lambda: state.step in FINISHED,
                timeout=timedelta(seconds=input.expire_after_seconds),
            )
        except TimeoutError:
            await self._lock.acquire()  # a password being stored finishes first
            if state.step not in FINISHED:
                state.step = ResetStep.EXPIRED
            self._lock.release()
        if self._sending is not None:
            # A code still on its way once the attempt is over is no use to anyone.
            self._sending.cancel()
            await asyncio.gather(self._sending, return_exceptions=True)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return PasswordResetWorkflowResult(step=state.step)

    def _expect(self, step: ResetStep) -> None:
        if self._state.step is not step:
            raise ApplicationError(
                f"reset is at {self._state.step.value}", type=WRONG_STEP, non_retryable=True
            )

    @workflow.query
    def reset(self) -> ResetState:
        return self._state

    @workflow.update
    def choose_way(self, input: ChooseResetWayInput) -> ChooseResetWayResult:
        state = self._state
        self._expect(ResetStep.CHOOSE_WAY)
        state.way = input.way
        questions = self._input.question_ids
        if input.way is ResetWay.EMAIL_CODE:
            state.asked_question_ids = [workflow.random().choice(questions)]
            state.code_requested_at = workflow.now()
            # Sent beside the wait: a slow mail server delays the code, not the page.
            self._sending = workflow.start_activity_method(
                PasswordResetActivities.send_reset_code,
                SendResetCodeInput(
                    reset_id=state.reset_id,
                    journey_id=self._input.journey_id,
                    language=self._input.language,
                    requested_at=state.code_requested_at,
                ),
                **MAIL_CALL,
            )
        else:
            state.asked_question_ids = list(questions)
        state.step = ResetStep.VERIFY
        return ChooseResetWayResult(step=state.step, asked_question_ids=state.asked_question_ids)

    @choose_way.validator
    def _validate_choose_way(self, input: ChooseResetWayInput) -> None:
        self._expect(ResetStep.CHOOSE_WAY)
        if not self._input.question_ids:
            raise ApplicationError("no recovery questions", type=WRONG_STEP, non_retryable=True)

    @workflow.update
    def record_verification(self, input: RecordVerificationInput) -> RecordVerificationResult:
        state = self._state
        self._expect(ResetStep.VERIFY)
        if input.passed and self._input.journey_id:
            state.step = ResetStep.NEW_PASSWORD
        else:
            state.failures += 1
            if state.failures >= state.failures_allowed:
                state.step = ResetStep.FAILED
        return RecordVerificationResult(
            step=state.step, failures_left=state.failures_allowed - state.failures
        )

    @record_verification.validator
    def _validate_record_verification(self, input: RecordVerificationInput) -> None:
        self._expect(ResetStep.VERIFY)

    @workflow.update
    async def set_new_password(self, input: SetNewPasswordInput) -> SetNewPasswordResult:
        async with self._lock:
            state = self._state
            self._expect(ResetStep.NEW_PASSWORD)
            now = workflow.now()
            await workflow.execute_local_activity_method(
                AccountActivities.store_gckey_password,
                StoreGCKeyPasswordInput(
                    journey_id=self._input.journey_id,
                    password_hash=input.password_hash,
                    changed_at=now,
                ),
                **DB_CALL,
            )
            journey = workflow.get_external_workflow_handle_for(
                OnboardingWorkflow.run, ONBOARDING_ID_PREFIX + self._input.journey_id
            )
            await journey.signal(
                OnboardingWorkflow.password_reset, PasswordResetInput(workflow.info().workflow_id)
            )
            state.completed_at = now
            state.step = ResetStep.DONE
            return SetNewPasswordResult(step=state.step)

    @set_new_password.validator
    def _validate_set_new_password(self, input: SetNewPasswordInput) -> None:
        self._expect(ResetStep.NEW_PASSWORD)
        if not rules.is_argon2id(input.password_hash):
            raise invalid({"password": [rules.N_("The password could not be set. Try again.")]})
