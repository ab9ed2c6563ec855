"""The rules of access once a journey has a credential: the Sign-In Partner's pairwise id,
sign-in verdicts that count failures and lock (and tell the owner), a new password that ends a
lock, and the expiry of a GCKey left unused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities
    from activities.notify import NotificationActivities
    from workflows import rules
    from workflows.activity_types import (
        ExpireGCKeyInput,
        LinkPartnerIdentityInput,
        SendLockNoticeInput,
    )
    from workflows.journey import (
        DB_CALL,
        LOCK_TELLS_NOTHING,
        MAIL_CALL,
        JourneyCore,
        business_error,
        invalid,
        wrong_step,
    )
    from workflows.types import (
        PARTNER_LINKED,
        LinkPartnerInput,
        LinkPartnerResult,
        LoginMethod,
        PasswordResetInput,
        RecordPartnerAttemptInput,
        RecordPartnerAttemptResult,
        RecordSignInInput,
        RecordSignInResult,
        SignInOutcome,
        Step,
    )


class AccessRules(JourneyCore):
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
        await asyncio.gather(*self._sending, return_exceptions=True)  # a lock notice on its way
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._carried())

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
            self._progress()
            workflow.logger.info("GCKey expired after going unused")

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
            self._progress()
            return LinkPartnerResult(step=state.step, view=self._view())

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
            raise wrong_step("not begun")

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
            if workflow.patched(LOCK_TELLS_NOTHING):
                # Counted whatever the password: the site answers every attempt during a lock
                # as it answers a wrong password. Whether it matched stays in this update's
                # input only; staff see how many and when, which is what tells of guessing.
                state.attempts_while_locked += 1
                state.last_attempt_while_locked_at = now
            return RecordSignInResult(SignInOutcome.LOCKED, state.locked_until)
        if input.password_matched:
            state.failed_sign_ins = 0
            state.locked_until = None
            state.last_signed_in_at = now
            return RecordSignInResult(SignInOutcome.SIGNED_IN)
        state.failed_sign_ins += 1
        if state.failed_sign_ins < self._input.lock_after_failures:
            return RecordSignInResult(SignInOutcome.FAILED)
        state.failures_that_locked = state.failed_sign_ins
        state.failed_sign_ins = 0
        state.locks += 1
        state.locked_until = now + timedelta(seconds=self._input.lock_seconds)
        workflow.logger.info("GCKey locked until %s", state.locked_until)
        if workflow.patched(LOCK_TELLS_NOTHING):
            self._tell_owner_of_lock(state.locked_until)
        return RecordSignInResult(SignInOutcome.LOCKED, state.locked_until, locked_now=True)

    def _tell_owner_of_lock(self, locked_until: datetime) -> None:
        """The site no longer tells anyone of a lock, so the owner is told by e-mail: at the
        recovery address, else the CERS account's, in their language and time zone."""
        state = self._state
        profile = state.profile
        to = state.recovery_email or (profile.email if profile else "")
        if not to:
            workflow.logger.info("GCKey locked; it has no address to tell its owner at")
            return
        notice = workflow.start_activity_method(
            NotificationActivities.send_lock_notice,
            SendLockNoticeInput(
                journey_id=state.journey_id,
                lock_number=state.locks,
                to=to,
                language=profile.language if profile else state.language,
                locked_until=locked_until,
                failures=self._input.lock_after_failures,
                time_zone=profile.time_zone if profile else "",
            ),
            **MAIL_CALL,
        )
        self._sending.append(notice)

    @record_sign_in.validator
    def _validate_record_sign_in(self, input: RecordSignInInput) -> None:
        if self._state.gckey_issued_at is None:
            raise wrong_step("no GCKey issued")

    @workflow.signal
    def password_reset(self, input: PasswordResetInput) -> None:
        """A new password ends a lock: the person proved who they are another way."""
        state = self._state
        state.password_reset_at = workflow.now()
        state.failed_sign_ins = 0
        state.locked_until = None
