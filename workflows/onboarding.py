"""One person's journey from the CERS login page to a confirmed CERS user account."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # rules' e-mail check imports from its own package as it runs: that package must be
    # the worker's too, not a module first imported in the middle of an activation.
    import email_validator  # noqa: F401

    # By their own names: the sandbox passes through a module imported by name, but not
    # one taken from its package's fromlist (``from workflows import rules`` ran rules.py
    # again in every new workflow's sandbox, and emptied its caches).
    import workflows.metering as metering
    import workflows.rules as rules
    from activities.accounts import AccountActivities
    from core.languages import LANGUAGES
    from workflows.abandoned import Abandonment
    from workflows.access import AccessRules
    from workflows.activity_types import (
        IssueGCKeyInput,
        MarkEmailConfirmedInput,
        ReserveUsernameInput,
        StoreUserAccountInput,
    )
    from workflows.delivery import MailDelivery
    from workflows.journey import (
        ACCESS_LIVES_ON,
        DB_CALL,
        MAIL_ACCEPTED_KEPT,
        business_error,
        invalid,
    )
    from workflows.moving import MovesToEncryptedHistory
    from workflows.support import SupportActions
    from workflows.types import (
        FINISHED_STEPS,
        LINK_EXPIRED,
        LINK_REPLACED,
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
        EmailKind,
        JourneyState,
        JourneyView,
        LoginMethod,
        OnboardingInput,
        OnboardingResult,
        RecoveryAnswer,
        RequestNewLinkInput,
        RequestNewLinkResult,
        SetPasswordInput,
        SetPasswordResult,
        SetRecoveryAnswersInput,
        SetRecoveryAnswersResult,
        SetRecoveryEmailInput,
        SetRecoveryEmailResult,
        Step,
    )


@workflow.defn
class OnboardingWorkflow(
    Abandonment, AccessRules, SupportActions, MailDelivery, MovesToEncryptedHistory
):
    """The CERS onboarding journey, one execution per journey, id ``onboarding-<uuid>``.

    Updates, in the order a person meets them:
      begin (update-with-start: the login choice), answer_terms, choose_username,
      set_password, set_recovery_answers, set_recovery_email (issues the GCKey),
      create_account (assigns the URN), confirm_email, request_new_link, change_email (only
      once the mail server has refused the address for good: workflows/delivery.py).
      A Sign-In Partner journey: begin, then link_partner (the pairwise id), then create_account.
      Once a credential exists (workflows/access.py): record_sign_in (the site's verdict on a
      password; counts failures, locks and e-mails the owner, counts attempts while locked;
      the site now counts them itself and signals sign_in_decided, so a sign-in does not wait
      for a journey the worker no longer caches),
      record_partner_attempt (an unknown Sign-In Partner came back).
      Signal watch_for_abandonment: a journey begun before abandonment came starts its timer.
      Support staff (workflows/support.py), each with staff member and reason:
      resend_confirmation, extend_deadline, send_resume_link (to an address the journey
      holds), unlock_gckey, cancel; and use_resume_link (the person opened that link, once).
    Queries: journey (the whole JourneyState; never a hash); view (the JourneyView a
      person's pages need, which every update of theirs also answers with).
    Signals: password_reset (from PasswordResetWorkflow: the new password is stored);
      sign_in_decided (the site counted a GCKey sign-in by the lock rules, db/sign_ins.py);
      move_to_encrypted_history (the cut-over to encrypted payloads, workflows/moving.py).
    Passwords and recovery answers arrive as argon2id hashes; the plaintext never enters history.
    A sign-up left before any credential for the abandon period ends as abandoned
    (workflows/abandoned.py), its username free again.
    After the portal the journey stays open as the record of the access it gave; a GCKey unused
    for the expiry period expires and the journey ends there.
    """

    @workflow.init
    def __init__(self, input: OnboardingInput) -> None:
        self._input = input
        self._state = input.carried or JourneyState(
            journey_id=input.journey_id,
            started_at=workflow.now(),
            rules_version=input.rules_version,
            link_mailed=0 if workflow.patched(MAIL_ACCEPTED_KEPT) else None,
        )
        self._begun = input.carried is not None
        self._password_hash = input.carried_password_hash
        self._recovery_answers: list[RecoveryAnswer] = list(input.carried_recovery_answers)
        # Which link's confirmation e-mail, and which link's reminder, have gone out.
        self._sent_link = input.carried_link_sent
        self._reminded_link = input.carried_link_reminded
        self._lock = asyncio.Lock()
        self._sending: list[asyncio.Task[Any]] = []
        self._mail_failing = 0
        self._watching: list[asyncio.Task[None]] = []
        self._deadline_changes = 0
        self._moves = 0
        self._last_move_at = input.carried_last_move_at or workflow.now()
        self._watching_abandonment = False
        self._metered_step = self._state.step

    @workflow.run
    async def run(self, input: OnboardingInput) -> OnboardingResult:
        state = self._state
        await workflow.wait_condition(lambda: self._begun)
        await self._abandon_if_patched()
        # GCKey sign-up (steps 1 to 5) or the Sign-In Partner, then Create User Account.
        await workflow.wait_condition(
            lambda: state.step is Step.CONFIRM_EMAIL or state.step in FINISHED_STEPS
        )
        if state.step is Step.CONFIRM_EMAIL:
            await self._wait_for_confirmation()
            if not self._cancelled():
                state.step = Step.PORTAL
                self._progress()
        if self._cancelled():
            for sending in self._sending:  # mail for a cancelled journey is not waited for
                sending.cancel()
        # Go on only once every e-mail has gone (or been cancelled): a journey that completes
        # while an activity result is arriving has its completion refused by the server.
        await asyncio.gather(*self._sending, *self._watching, return_exceptions=True)
        if state.step is Step.PORTAL and workflow.patched(ACCESS_LIVES_ON):
            await self._keep_access()
        await asyncio.gather(*self._sending, return_exceptions=True)  # a later lock notice
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OnboardingResult(step=state.step, urn=state.urn or None)

    async def _wait_for_confirmation(self) -> None:
        """Sends the link, reminds, expires it, and sends a new one on request. E-mail goes out
        beside the timers: a mail server that is down delays the e-mail, not the expiry."""
        state = self._state
        while (
            state.confirmation is not ConfirmationStatus.CONFIRMED
            and state.step is not Step.CANCELLED
        ):
            link = state.link_number
            if self._sent_link != link:
                self._sent_link = link
                self._sending.append(self._send(EmailKind.CONFIRMATION))
                continue
            assert state.link_sent_at and state.link_expires_at
            remind_at = state.link_sent_at + timedelta(seconds=self._input.reminder_after_seconds)
            if self._reminded_link != link and remind_at < state.link_expires_at:
                if not await self._sleep_until(remind_at, link):
                    self._reminded_link = link
                    if not self._address_refused():  # the server said no for good
                        state.reminders_sent += 1
                        self._sending.append(self._send(EmailKind.REMINDER))
                continue
            if state.confirmation is ConfirmationStatus.PENDING:
                if not await self._sleep_until(state.link_expires_at, link):
                    state.confirmation = ConfirmationStatus.EXPIRED
                    workflow.logger.info("confirmation link %d expired", link)
                continue
            # Expired: nothing happens until a new link or a later deadline.
            await workflow.wait_condition(self._changed(link))

    async def _sleep_until(self, when: datetime, link: int) -> bool:
        """Waits until ``when``; True if the user confirmed or the link changed first."""
        state = self._state
        try:
            changed = self._changed(link)
            await workflow.wait_condition(
                lambda: state.confirmation is ConfirmationStatus.CONFIRMED or changed(),
                timeout=max(when - workflow.now(), timedelta(seconds=1)),
            )
        except TimeoutError:
            return False
        return True

    def _cancelled(self) -> bool:
        return self._state.step is Step.CANCELLED

    @workflow.query
    def journey(self) -> JourneyState:
        return self._state

    @workflow.query
    def view(self) -> JourneyView:
        return self._view()

    # The login choice: the first message of every journey, sent with update-with-start.

    @workflow.update
    def begin(self, input: BeginInput) -> BeginResult:
        # The login method may change until a credential starts to be made; after that a
        # repeat of the choice only finds the journey where it stands.
        switching = self._state.step in (Step.TERMS, Step.PARTNER_SIGN_IN) and (
            input.login_method is not self._state.login_method
        )
        if not self._begun:
            metering.journey_started(input.login_method)
        if not self._begun or switching:
            self._begun = True
            self._state.login_method = input.login_method
            self._state.language = input.language
            self._state.step = (
                Step.TERMS if input.login_method is LoginMethod.GCKEY else Step.PARTNER_SIGN_IN
            )
            self._progress()
        return BeginResult(step=self._state.step, view=self._view())

    @begin.validator
    def _validate_begin(self, input: BeginInput) -> None:
        if input.language not in LANGUAGES:
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
        self._progress()
        return AnswerTermsResult(step=state.step, view=self._view())

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
            self._progress()
            return ChooseUsernameResult(step=self._state.step, view=self._view())

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
        self._progress()
        return SetPasswordResult(step=self._state.step, view=self._view())

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
        self._progress()
        return SetRecoveryAnswersResult(step=self._state.step, view=self._view())

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
            self._progress()
            return SetRecoveryEmailResult(
                step=state.step, gckey_issued_at=result.issued_at, view=self._view()
            )

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
                AccountActivities.store_user_account,
                StoreUserAccountInput(
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
            self._progress()
            return CreateAccountResult(urn=result.urn, view=self._view())

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
            return ConfirmEmailResult(confirmed_at=state.confirmed_at, view=self._view())

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
        self._progress()
        return RequestNewLinkResult(link_number=self._state.link_number, view=self._view())

    @request_new_link.validator
    def _validate_request_new_link(self, input: RequestNewLinkInput) -> None:
        self._expect(Step.CONFIRM_EMAIL)
        if self._state.confirmation is ConfirmationStatus.CONFIRMED:
            raise ApplicationError("already confirmed", type=WRONG_STEP, non_retryable=True)
