"""What every part of the onboarding workflow shares: activity options, business errors, and
the journey's state with the few moves on it that several handlers make."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.workflow import ActivityHandle

with workflow.unsafe.imports_passed_through():
    from workflows import metering, search
    from workflows.types import (
        BEFORE_A_CREDENTIAL,
        INVALID_INPUT,
        PARTNER_LINKED,
        USERNAME_TAKEN,
        WRONG_STEP,
        ConfirmationStatus,
        JourneyState,
        JourneyView,
        LoginMethod,
        OnboardingInput,
        RecoveryAnswer,
        Step,
    )

# Database writes are short and keyed by the journey: local activities keep a form step near
# the bare update round trip. A database that does not answer is waited out for two minutes:
# the person's page says "try again" after the site's deadline, and pressing again (the same
# update id) joins the update still waiting, so it lands on the next step once the database is
# back. Five attempts (about 15 s) was shorter than an ordinary outage, and the failed update
# was the answer every later press of that form got (benchmarks/chaos.py, database cut).
# E-mail may wait on a mail server for hours: a regular activity, retried until the server
# takes it.
DB_CALL: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        maximum_interval=timedelta(seconds=5),
        non_retryable_error_types=[USERNAME_TAKEN, PARTNER_LINKED],
    ),
}
MAIL_CALL: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5)
    ),
}
# From STUCK_IN_VISIBILITY on, an e-mail's first attempts are bounded (about 6 s of retries
# after the first): when they all fail, the journey says so in visibility and sends again
# with MAIL_CALL. A retry inside one activity costs no history; this costs at most one more
# activity per e-mail, however long the mail server stays down.
MAIL_FIRST_TRY: dict[str, Any] = {
    **MAIL_CALL,
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3),
}

# Changes to deployed logic, each behind workflow.patched so recorded journeys still replay.
# Journeys recorded before ACCESS_LIVES_ON completed at the portal; from it on, the journey
# stays open as the record of its access (sign-ins, locks, Sign-In Partner attempts, support).
ACCESS_LIVES_ON = "access-lives-on-after-portal"
# From SEARCH_ATTRIBUTES on, a journey tells Temporal's visibility where it stands.
SEARCH_ATTRIBUTES = "search-attributes"
# From LOCK_TELLS_NOTHING on, a sign-in tried while the GCKey is locked is counted, and the
# owner is e-mailed when it locks (the site answers those attempts as it answers a wrong
# password, so the lock no longer tells a guesser anything).
LOCK_TELLS_NOTHING = "lock-tells-nothing-and-owner-is-told"
# From MAIL_REFUSAL_KEPT on, the journey records an address the mail server refuses for good
# (an SMTP 5xx, which the e-mail activity no longer retries) and sends no reminder to it.
MAIL_REFUSAL_KEPT = "mail-refusal-kept"
# From ABANDON_UNFINISHED on, a sign-up with no progress before any credential for the abandon
# period ends as abandoned, and its username is released.
ABANDON_UNFINISHED = "abandon-unfinished-sign-ups"
# From MAIL_ACCEPTED_KEPT on, a journey keeps which link's e-mail the mail server accepted.
MAIL_ACCEPTED_KEPT = "mail-accepted-kept"
# From STUCK_IN_VISIBILITY on, the journey tells visibility all that makes it stuck: an e-mail
# failing its first attempts (CersEmailFailing), an address refused for good (CersMailRefused)
# and a lock (CersLockedUntil); the staff list reads a page in one visibility call.
STUCK_IN_VISIBILITY = "stuck-told-to-visibility"

T = TypeVar("T")

STATUS_OF_STEP = {
    Step.CONFIRM_EMAIL: search.JourneyStatus.AWAITING_CONFIRMATION,
    Step.PORTAL: search.JourneyStatus.COMPLETED,
    Step.DECLINED: search.JourneyStatus.DECLINED,
    Step.CANCELLED: search.JourneyStatus.CANCELLED,
    Step.GCKEY_EXPIRED: search.JourneyStatus.EXPIRED,
    Step.ABANDONED: search.JourneyStatus.ABANDONED,
}


def invalid(errors: dict[str, list[str]]) -> ApplicationError:
    """A rule broken: the details map each form field to its messages (English msgids)."""
    return ApplicationError("invalid input", errors, type=INVALID_INPUT, non_retryable=True)


def wrong_step(why: str) -> ApplicationError:
    return ApplicationError(why, type=WRONG_STEP, non_retryable=True)


def business_error(err: ActivityError | ApplicationError, kind: str) -> ApplicationError | None:
    """The activity's business error of this kind, if that is what failed. Core reports a local
    activity's failure bare and a regular one's wrapped."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause if isinstance(cause, ApplicationError) and cause.type == kind else None


class JourneyCore:
    """The state the handlers share; OnboardingWorkflow sets it up in its ``__init__``."""

    _input: OnboardingInput
    _state: JourneyState
    _begun: bool
    _lock: asyncio.Lock
    _deadline_changes: int
    _moves: int  # how many times the journey moved on; the abandon timer starts at each
    _last_move_at: datetime  # when it last did (its start, before any move)
    _sending: list[asyncio.Task[Any]]  # e-mail on its way; the journey ends only after it
    _mail_failing: int  # e-mails whose first attempts failed, still retrying
    _password_hash: str  # held from the password step until the GCKey is issued
    _recovery_answers: list[RecoveryAnswer]  # likewise
    _sent_link: int
    _reminded_link: int
    _metered_step: Step  # the step the journey metrics last saw (workflows/metering.py)

    def _carried(self) -> OnboardingInput:
        """The input a continued run starts from: all the journey knows, and the hashes only
        while the GCKey they are for is yet to be issued."""
        pending = self._state.gckey_issued_at is None
        return replace(
            self._input,
            carried=self._state,
            carried_password_hash=self._password_hash if pending else "",
            carried_recovery_answers=list(self._recovery_answers) if pending else [],
            carried_link_sent=self._sent_link,
            carried_link_reminded=self._reminded_link,
            carried_last_move_at=self._last_move_at,
        )

    def _expect(self, *steps: Step) -> None:
        if self._state.step not in steps:
            raise wrong_step(f"journey is at {self._state.step.value}")

    def _new_link(self) -> None:
        state = self._state
        state.link_number += 1
        state.link_sent_at = workflow.now()
        state.link_expires_at = state.link_sent_at + timedelta(
            seconds=self._input.expire_after_seconds
        )
        state.confirmation = ConfirmationStatus.PENDING

    def _changed(self, link: int) -> Callable[[], bool]:
        """True once the link is replaced, its deadline moved, or the journey cancelled."""
        changes = self._deadline_changes
        return lambda: (
            self._state.link_number != link
            or self._deadline_changes != changes
            or self._state.step is Step.CANCELLED
        )

    def _view(self) -> JourneyView:
        """What the person's pages need, with the revision it is true at and the first moment
        a timer may change it (the site asks again from then on)."""
        state = self._state
        changes_by: datetime | None = None
        if state.step in BEFORE_A_CREDENTIAL:
            changes_by = self._last_move_at + timedelta(seconds=self._input.abandon_after_seconds)
        elif state.step is Step.PORTAL and state.login_method is LoginMethod.GCKEY:
            uses = [state.gckey_issued_at, state.last_signed_in_at, state.password_reset_at]
            if last_use := max((u for u in uses if u is not None), default=None):
                expiry = timedelta(seconds=self._input.gckey_expire_after_seconds)
                changes_by = last_use + expiry
        return JourneyView(
            step=state.step,
            login_method=state.login_method,
            username=state.username,
            gckey_issued_at=state.gckey_issued_at,
            recovery_email=state.recovery_email,
            revision=state.revision,
            changes_by=changes_by,
        )

    def _progress(self) -> None:
        """Where the journey stands, for the staff list in Temporal's visibility: the step, the
        login method, a status, when it last moved and its deadline; never who it is."""
        self._moves += 1
        self._last_move_at = workflow.now()
        # State only, no command: histories recorded before it replay unchanged.
        self._state.revision += 1
        before, self._metered_step = self._metered_step, self._state.step
        metering.journey_moved(before, self._state.step, self._state.login_method)
        if not workflow.patched(SEARCH_ATTRIBUTES):
            return
        state = self._state
        deadline = (
            state.link_expires_at
            if state.step is Step.CONFIRM_EMAIL
            and state.confirmation is not ConfirmationStatus.CONFIRMED
            else None
        )
        status = STATUS_OF_STEP.get(state.step, search.JourneyStatus.IN_PROGRESS)
        workflow.upsert_search_attributes(
            [
                search.STEP.value_set(state.step.value),
                search.LOGIN_METHOD.value_set(state.login_method.value),
                search.STATUS.value_set(status.value),
                search.LAST_PROGRESS.value_set(workflow.now()),
                search.DEADLINE.value_set(deadline) if deadline else search.DEADLINE.value_unset(),
            ]
        )

    def _tell_visibility(self, *updates: SearchAttributeUpdate[Any]) -> None:
        if workflow.patched(STUCK_IN_VISIBILITY):
            workflow.upsert_search_attributes(list(updates))

    def _tell_lock(self) -> None:
        until = self._state.locked_until
        self._tell_visibility(
            search.LOCKED_UNTIL.value_set(until) if until else search.LOCKED_UNTIL.value_unset()
        )

    def _tell_refused(self) -> None:
        self._tell_visibility(search.MAIL_REFUSED.value_set(self._state.mail_refused is not None))

    def _mail(self, start: Callable[[dict[str, Any]], ActivityHandle[T]]) -> asyncio.Task[T]:
        """An e-mail on its way: ``start`` starts its activity with the options given. The
        first activity is started here, at once, where older code started its only one."""
        if not workflow.patched(STUCK_IN_VISIBILITY):
            return start(MAIL_CALL)
        return asyncio.create_task(self._until_sent(start(MAIL_FIRST_TRY), start))

    async def _until_sent(
        self, first: ActivityHandle[T], start: Callable[[dict[str, Any]], ActivityHandle[T]]
    ) -> T:
        try:
            return await first
        except ActivityError as err:
            if err.retry_state is not RetryState.MAXIMUM_ATTEMPTS_REACHED:
                raise  # refused for good, or cancelled: not a mail server that may come back
        self._mail_failing += 1
        if self._mail_failing == 1:
            self._tell_visibility(search.EMAIL_FAILING.value_set(True))
        try:
            return await start(MAIL_CALL)
        finally:
            self._mail_failing -= 1
            if self._mail_failing == 0:
                self._tell_visibility(search.EMAIL_FAILING.value_set(False))
