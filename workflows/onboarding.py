"""One person's journey from the CERS login page to a confirmed CERS user account."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityHandle

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities
    from activities.notify import NotificationActivities
    from workflows import rules
    from workflows.types import (
        INVALID_INPUT,
        LINK_EXPIRED,
        LINK_REPLACED,
        PARTNER_LINKED,
        USERNAME_TAKEN,
        WRONG_STEP,
        AnswerTermsInput,
        AnswerTermsResult,
        BeginInput,
        BeginResult,
        ChooseUsernameInput,
        ChooseUsernameResult,
        ConfirmationStatus,
        ConfirmEmailInput,
        ConfirmEmailResult,
        CreateAccountInput,
        CreateAccountResult,
        CreateUserAccountInput,
        EmailKind,
        ExpireGCKeyInput,
        IssueGCKeyInput,
        JourneyState,
        LinkPartnerIdentityInput,
        LinkPartnerInput,
        LinkPartnerResult,
        LoginMethod,
        MarkEmailConfirmedInput,
        OnboardingInput,
        OnboardingResult,
        PasswordResetInput,
        RecordPartnerAttemptInput,
        RecordPartnerAttemptResult,
        RecordSignInInput,
        RecordSignInResult,
        RecoveryAnswer,
        RequestNewLinkInput,
        RequestNewLinkResult,
        ReserveUsernameInput,
        SendConfirmationEmailInput,
        SendConfirmationEmailResult,
        SetPasswordInput,
        SetPasswordResult,
        SetRecoveryAnswersInput,
        SetRecoveryAnswersResult,
        SetRecoveryEmailInput,
        SetRecoveryEmailResult,
        SignInOutcome,
        Step,
    )

# Database writes are short and keyed by the journey: local activities keep a form step near
# the bare update round trip. E-mail may wait on a mail server for hours: a regular activity,
# retried until the server takes it.
DB_CALL: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        maximum_attempts=5, non_retryable_error_types=[USERNAME_TAKEN, PARTNER_LINKED]
    ),
}
MAIL_CALL: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5)
    ),
}


# Journeys recorded before this change completed at the portal; from it on, the journey stays
# open as the record of its access (sign-ins, locks, Sign-In Partner attempts, support).
ACCESS_LIVES_ON = "access-lives-on-after-portal"


def invalid(errors: dict[str, list[str]]) -> ApplicationError:
    """A rule broken: the details map each form field to its messages (English msgids)."""
    return ApplicationError("invalid input", errors, type=INVALID_INPUT, non_retryable=True)


def business_error(err: ActivityError | ApplicationError, kind: str) -> ApplicationError | None:
    """The activity's business error of this kind, if that is what failed. Core reports a local
    activity's failure bare and a regular one's wrapped."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause if isinstance(cause, ApplicationError) and cause.type == kind else None


@workflow.defn
class OnboardingWorkflow:
    """The CERS onboarding journey, one execution per journey, id ``onboarding-<uuid>``.

    Updates, in the order a person meets them:
      begin (update-with-start: the login choice), answer_terms, choose_username,
      set_password, set_recovery_answers, set_recovery_email (issues the GCKey),
      create_account (assigns the URN), confirm_email, request_new_link.
      A Sign-In Partner journey: begin, then link_partner (the pairwise id), then create_account.
      Once a credential exists: record_sign_in (the site's verdict on a password; counts
      failures and locks), record_partner_attempt (an unknown Sign-In Partner came back).
    Query: journey (the whole JourneyState; never a hash).
    Signals: password_reset (from PasswordResetWorkflow: the new password is stored).
    Passwords and recovery answers arrive as argon2id hashes; the plaintext never enters history.
    After the portal the journey stays open as the record of the access it gave; a GCKey unused
    for the expiry period expires and the journey ends there.
    """

    @workflow.init
    def __init__(self, input: OnboardingInput) -> None:
        self._input = input
        self._state = input.carried or JourneyState(
            journey_id=input.journey_id, started_at=workflow.now()
        )
        self._begun = input.carried is not None
        self._password_hash = ""
        self._recovery_answers: list[RecoveryAnswer] = []
        self._lock = asyncio.Lock()
        self._sending: list[ActivityHandle[SendConfirmationEmailResult]] = []

    @workflow.run
    async def run(self, input: OnboardingInput) -> OnboardingResult:
        state = self._state
        await workflow.wait_condition(lambda: self._begun)
        # GCKey sign-up (steps 1 to 5) or the Sign-In Partner, then Create User Account.
        await workflow.wait_condition(
            lambda: state.step in (Step.CONFIRM_EMAIL, Step.PORTAL, Step.DECLINED)
        )
        if state.step is Step.CONFIRM_EMAIL:
            await self._wait_for_confirmation()
            state.step = Step.PORTAL
            # Close only once every e-mail has gone: a journey that completes while an
            # activity result is arriving has its completion refused by the server.
            await asyncio.gather(*self._sending)
        if state.step is Step.PORTAL and workflow.patched(ACCESS_LIVES_ON):
            await self._keep_access()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OnboardingResult(step=state.step, urn=state.urn or None)

    async def _keep_access(self) -> None:
        """Waits for the GCKey to go unused for the expiry period, starting again at every use;
        a long-running journey continues as new with its state."""
        state = self._state
        while not self._long():
            last_use = self._last_use()
            if state.login_method is not LoginMethod.GCKEY or last_use is None:
                await workflow.wait_condition(self._long)
                break
            expires_at = last_use + timedelta(seconds=self._input.gckey_expire_after_seconds)
            try:
                await workflow.wait_condition(
                    self._used_since(last_use),
                    timeout=max(expires_at - workflow.now(), timedelta(seconds=1)),
                )
            except TimeoutError:
                await self._expire_gckey()
                return
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(replace(self._input, carried=state))

    def _long(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    def _used_since(self, last_use: datetime) -> Callable[[], bool]:
        return lambda: self._last_use() != last_use or self._long()

    def _last_use(self) -> datetime | None:
        state = self._state
        uses = [state.gckey_issued_at, state.last_signed_in_at, state.password_reset_at]
        return max((u for u in uses if u is not None), default=None)

    async def _expire_gckey(self) -> None:
        async with self._lock:
            now = workflow.now()
            await workflow.execute_local_activity_method(
                AccountActivities.expire_gckey,
                ExpireGCKeyInput(journey_id=self._state.journey_id, expired_at=now),
                **DB_CALL,
            )
            self._state.gckey_expired_at = now
            self._state.step = Step.GCKEY_EXPIRED
            workflow.logger.info("GCKey expired after going unused")

    async def _wait_for_confirmation(self) -> None:
        """Sends the link, reminds, expires it, and sends a new one on request. E-mail goes out
        beside the timers: a mail server that is down delays the e-mail, not the expiry."""
        state = self._state
        sent_link = 0
        reminded_link = 0
        while state.confirmation is not ConfirmationStatus.CONFIRMED:
            link = state.link_number
            if sent_link != link:
                sent_link = link
                self._sending.append(self._send(EmailKind.CONFIRMATION))
                continue
            assert state.link_sent_at and state.link_expires_at
            remind_at = state.link_sent_at + timedelta(seconds=self._input.reminder_after_seconds)
            if reminded_link != link and remind_at < state.link_expires_at:
                if not await self._sleep_until(remind_at, link):
                    reminded_link = link
                    state.reminders_sent += 1
                    self._sending.append(self._send(EmailKind.REMINDER))
                continue
            if state.confirmation is ConfirmationStatus.PENDING:
                if not await self._sleep_until(state.link_expires_at, link):
                    state.confirmation = ConfirmationStatus.EXPIRED
                    workflow.logger.info("confirmation link %d expired", link)
                continue
            # Expired: nothing happens until the user asks for a new link.
            await workflow.wait_condition(self._replaced(link))

    def _replaced(self, link: int) -> Callable[[], bool]:
        return lambda: self._state.link_number != link

    async def _sleep_until(self, when: datetime, link: int) -> bool:
        """Waits until ``when``; True if the user confirmed or a new link was made first."""
        state = self._state
        try:
            replaced = self._replaced(link)
            await workflow.wait_condition(
                lambda: state.confirmation is ConfirmationStatus.CONFIRMED or replaced(),
                timeout=max(when - workflow.now(), timedelta(seconds=1)),
            )
        except TimeoutError:
            return False
        return True

    def _send(self, kind: EmailKind) -> ActivityHandle[SendConfirmationEmailResult]:
        state = self._state
        assert state.profile and state.link_expires_at
        return workflow.start_activity_method(
            NotificationActivities.send_confirmation_email,
            SendConfirmationEmailInput(
                journey_id=state.journey_id,
                kind=kind,
                link_number=state.link_number,
                to=state.profile.email,
                given_name=state.profile.given_name,
                language=state.profile.language,
                urn=state.urn,
                expires_at=state.link_expires_at,
                time_zone=state.profile.time_zone,
            ),
            **MAIL_CALL,
        )

    def _new_link(self) -> None:
        state = self._state
        state.link_number += 1
        state.link_sent_at = workflow.now()
        state.link_expires_at = state.link_sent_at + timedelta(
            seconds=self._input.expire_after_seconds
        )
        state.confirmation = ConfirmationStatus.PENDING

    def _expect(self, *steps: Step) -> None:
        if self._state.step not in steps:
            raise ApplicationError(
                f"journey is at {self._state.step.value}", type=WRONG_STEP, non_retryable=True
            )

    @workflow.query
    def journey(self) -> JourneyState:
        return self._state

    # The login choice: the first message of every journey, sent with update-with-start.

    @workflow.update
    def begin(self, input: BeginInput) -> BeginResult:
        # The login method may change until a credential starts to be made; after that a
        # repeat of the choice only finds the journey where it stands.
        switching = self._state.step in (Step.TERMS, Step.PARTNER_SIGN_IN) and (
            input.login_method is not self._state.login_method
        )
        if not self._begun or switching:
            self._begun = True
            self._state.login_method = input.login_method
            self._state.language = input.language
            self._state.step = (
                Step.TERMS if input.login_method is LoginMethod.GCKEY else Step.PARTNER_SIGN_IN
            )
        return BeginResult(step=self._state.step)

    @begin.validator
    def _validate_begin(self, input: BeginInput) -> None:
        if input.language not in rules.LANGUAGES:
            raise invalid({"language": [rules.N_("Choose English or French.")]})

    # GCKey Sign Up, steps 1 to 5.

    @workflow.update
    def answer_terms(self, input: AnswerTermsInput) -> AnswerTermsResult:
        self._expect(Step.TERMS)
        state = self._state
        state.terms_version = input.terms_version
        state.terms_language = input.language
        state.terms_answered_at = workflow.now()
        state.step = Step.USERNAME if input.accepted else Step.DECLINED
        return AnswerTermsResult(step=state.step)

    @answer_terms.validator
    def _validate_answer_terms(self, input: AnswerTermsInput) -> None:
        self._expect(Step.TERMS)
        if input.terms_version != self._input.terms_version:
            raise invalid({"terms": [rules.N_("The terms have changed. Read them again.")]})

    @workflow.update
    async def choose_username(self, input: ChooseUsernameInput) -> ChooseUsernameResult:
        async with self._lock:
            self._expect(Step.USERNAME)
            try:
                await workflow.execute_local_activity_method(
                    AccountActivities.reserve_username,
                    ReserveUsernameInput(
                        journey_id=self._state.journey_id, username=input.username
                    ),
                    **DB_CALL,
                )
            except (ActivityError, ApplicationError) as err:
                if business_error(err, USERNAME_TAKEN):
                    raise invalid({"username": [rules.USERNAME_TAKEN_MESSAGE]}) from err
                raise
            self._state.username = input.username
            self._state.step = Step.PASSWORD
            return ChooseUsernameResult(step=self._state.step)

    @choose_username.validator
    def _validate_choose_username(self, input: ChooseUsernameInput) -> None:
        self._expect(Step.USERNAME)
        if problems := rules.failed(rules.username_checks(input.username)):
            raise invalid({"username": problems})

    @workflow.update
    def set_password(self, input: SetPasswordInput) -> SetPasswordResult:
        self._expect(Step.PASSWORD)
        self._password_hash = input.password_hash
        self._state.password_set_at = workflow.now()
        self._state.step = Step.RECOVERY_ANSWERS
        return SetPasswordResult(step=self._state.step)

    @set_password.validator
    def _validate_set_password(self, input: SetPasswordInput) -> None:
        # The rules were checked on the plaintext before hashing; only a hash may come in.
        self._expect(Step.PASSWORD)
        if not rules.is_argon2id(input.password_hash):
            raise invalid({"password": [rules.N_("The password could not be set. Try again.")]})

    @workflow.update
    def set_recovery_answers(self, input: SetRecoveryAnswersInput) -> SetRecoveryAnswersResult:
        self._expect(Step.RECOVERY_ANSWERS)
        self._recovery_answers = input.answers
        self._state.recovery_question_ids = [a.question_id for a in input.answers]
        self._state.recovery_hints = [a.hint for a in input.answers]
        self._state.step = Step.RECOVERY_EMAIL
        return SetRecoveryAnswersResult(step=self._state.step)

    @set_recovery_answers.validator
    def _validate_set_recovery_answers(self, input: SetRecoveryAnswersInput) -> None:
        self._expect(Step.RECOVERY_ANSWERS)
        ids = [a.question_id for a in input.answers]
        if (
            len(ids) != self._input.recovery_question_count
            or len(set(ids)) != len(ids)
            or any(i not in rules.RECOVERY_QUESTIONS for i in ids)
            or not all(rules.is_argon2id(a.answer_hash) for a in input.answers)
        ):
            raise invalid({"recovery": [rules.N_("Answer every recovery question.")]})

    @workflow.update
    async def set_recovery_email(self, input: SetRecoveryEmailInput) -> SetRecoveryEmailResult:
        async with self._lock:
            self._expect(Step.RECOVERY_EMAIL)
            state = self._state
            result = await workflow.execute_local_activity_method(
                AccountActivities.issue_gckey,
                IssueGCKeyInput(
                    journey_id=state.journey_id,
                    login_method=state.login_method,
                    username=state.username,
                    password_hash=self._password_hash,
                    recovery_answers=self._recovery_answers,
                    recovery_email=input.email,
                    issued_at=workflow.now(),
                    terms_version=state.terms_version,
                    terms_language=state.terms_language,
                    terms_accepted_at=state.terms_answered_at,
                ),
                **DB_CALL,
            )
            state.recovery_email = input.email
            state.gckey_issued_at = result.issued_at
            state.step = Step.CREATE_ACCOUNT
            return SetRecoveryEmailResult(step=state.step, gckey_issued_at=result.issued_at)

    @set_recovery_email.validator
    def _validate_set_recovery_email(self, input: SetRecoveryEmailInput) -> None:
        self._expect(Step.RECOVERY_EMAIL)
        if problems := rules.email_errors(input.email, required=False):
            raise invalid({"email": problems})

    # CERS: Create User Account, then the confirmation e-mail.

    @workflow.update
    async def create_account(self, input: CreateAccountInput) -> CreateAccountResult:
        async with self._lock:
            self._expect(Step.CREATE_ACCOUNT)
            state = self._state
            now = workflow.now()
            result = await workflow.execute_local_activity_method(
                AccountActivities.create_user_account,
                CreateUserAccountInput(
                    journey_id=state.journey_id,
                    login_method=state.login_method,
                    profile=input.profile,
                    created_at=now,
                ),
                **DB_CALL,
            )
            state.profile = input.profile
            state.urn = result.urn
            state.account_created_at = now
            self._new_link()
            state.step = Step.CONFIRM_EMAIL
            return CreateAccountResult(urn=result.urn)

    @create_account.validator
    def _validate_create_account(self, input: CreateAccountInput) -> None:
        self._expect(Step.CREATE_ACCOUNT)
        p = input.profile
        errors = rules.profile_errors(
            p.given_name, p.family_name, p.email, p.telephone, p.time_zone, p.language
        )
        if errors:
            raise invalid(errors)

    @workflow.update
    async def confirm_email(self, input: ConfirmEmailInput) -> ConfirmEmailResult:
        async with self._lock:
            state = self._state
            if state.confirmed_at is None:
                now = workflow.now()
                await workflow.execute_local_activity_method(
                    AccountActivities.mark_email_confirmed,
                    MarkEmailConfirmedInput(journey_id=state.journey_id, confirmed_at=now),
                    **DB_CALL,
                )
                state.confirmed_at = now
                state.confirmation = ConfirmationStatus.CONFIRMED
            return ConfirmEmailResult(confirmed_at=state.confirmed_at)

    @confirm_email.validator
    def _validate_confirm_email(self, input: ConfirmEmailInput) -> None:
        state = self._state
        self._expect(Step.CONFIRM_EMAIL)
        if state.confirmation is ConfirmationStatus.CONFIRMED:
            return
        if input.link_number != state.link_number:
            raise ApplicationError("link replaced", type=LINK_REPLACED, non_retryable=True)
        if state.link_expires_at is None or workflow.now() >= state.link_expires_at:
            raise ApplicationError("link expired", type=LINK_EXPIRED, non_retryable=True)

    @workflow.update
    def request_new_link(self, input: RequestNewLinkInput) -> RequestNewLinkResult:
        self._expect(Step.CONFIRM_EMAIL)
        self._new_link()
        return RequestNewLinkResult(link_number=self._state.link_number)

    @request_new_link.validator
    def _validate_request_new_link(self, input: RequestNewLinkInput) -> None:
        self._expect(Step.CONFIRM_EMAIL)
        if self._state.confirmation is ConfirmationStatus.CONFIRMED:
            raise ApplicationError("already confirmed", type=WRONG_STEP, non_retryable=True)

    # The Sign-In Partner: its pairwise id takes the place of a GCKey.

    @workflow.update
    async def link_partner(self, input: LinkPartnerInput) -> LinkPartnerResult:
        async with self._lock:
            self._expect(Step.PARTNER_SIGN_IN)
            state = self._state
            now = workflow.now()
            try:
                await workflow.execute_local_activity_method(
                    AccountActivities.link_partner_identity,
                    LinkPartnerIdentityInput(
                        journey_id=state.journey_id,
                        issuer=input.issuer,
                        subject=input.subject,
                        linked_at=now,
                    ),
                    **DB_CALL,
                )
            except (ActivityError, ApplicationError) as err:
                if linked := business_error(err, PARTNER_LINKED):
                    raise ApplicationError(
                        "linked to another journey",
                        *linked.details,
                        type=PARTNER_LINKED,
                        non_retryable=True,
                    ) from err
                raise
            state.partner_linked_at = now
            state.step = Step.CREATE_ACCOUNT
            return LinkPartnerResult(step=state.step)

    @link_partner.validator
    def _validate_link_partner(self, input: LinkPartnerInput) -> None:
        self._expect(Step.PARTNER_SIGN_IN)
        if not input.issuer or not input.subject:
            raise invalid({"partner": [rules.N_("The Sign-In Partner did not say who you are.")]})

    @workflow.update
    def record_partner_attempt(
        self, input: RecordPartnerAttemptInput
    ) -> RecordPartnerAttemptResult:
        """Not merged: the attempt is kept, and the answer is the access this journey has."""
        state = self._state
        state.partner_attempts += 1
        state.last_partner_attempt_at = workflow.now()
        workflow.logger.info("Sign-In Partner attempt on a %s journey", state.login_method)
        return RecordPartnerAttemptResult(default_access=state.login_method)

    @record_partner_attempt.validator
    def _validate_record_partner_attempt(self, input: RecordPartnerAttemptInput) -> None:
        if not self._begun:
            raise ApplicationError("not begun", type=WRONG_STEP, non_retryable=True)

    # The rules of signing in with a GCKey.

    @workflow.update
    def record_sign_in(self, input: RecordSignInInput) -> RecordSignInResult:
        state = self._state
        now = workflow.now()
        last_use = self._last_use()
        expiry = timedelta(seconds=self._input.gckey_expire_after_seconds)
        if state.gckey_expired_at or (last_use and now >= last_use + expiry):
            return RecordSignInResult(SignInOutcome.EXPIRED)
        if state.locked_until and now < state.locked_until:
            return RecordSignInResult(SignInOutcome.LOCKED, state.locked_until)
        if input.password_matched:
            state.failed_sign_ins = 0
            state.locked_until = None
            state.last_signed_in_at = now
            return RecordSignInResult(SignInOutcome.SIGNED_IN)
        state.failed_sign_ins += 1
        if state.failed_sign_ins < self._input.lock_after_failures:
            return RecordSignInResult(SignInOutcome.FAILED)
        state.failed_sign_ins = 0
        state.locks += 1
        state.locked_until = now + timedelta(seconds=self._input.lock_seconds)
        workflow.logger.info("GCKey locked until %s", state.locked_until)
        return RecordSignInResult(SignInOutcome.LOCKED, state.locked_until)

    @record_sign_in.validator
    def _validate_record_sign_in(self, input: RecordSignInInput) -> None:
        if self._state.gckey_issued_at is None:
            raise ApplicationError("no GCKey issued", type=WRONG_STEP, non_retryable=True)

    @workflow.signal
    def password_reset(self, input: PasswordResetInput) -> None:
        """A new password ends a lock: the person proved who they are another way."""
        state = self._state
        state.password_reset_at = workflow.now()
        state.failed_sign_ins = 0
        state.locked_until = None
