"""The journey's confirmation e-mail on its way: sent beside the timers, and an address the
mail server refuses for good (an SMTP 5xx) recorded, so the person is told and can give
another one instead of the journey waiting on an e-mail that will never leave."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityHandle

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities
    from activities.notify import NotificationActivities
    from workflows import rules
    from workflows.activity_types import (
        SendConfirmationEmailInput,
        SendConfirmationEmailResult,
        StoreAccountEmailInput,
    )
    from workflows.journey import (
        DB_CALL,
        MAIL_CALL,
        MAIL_REFUSAL_KEPT,
        JourneyCore,
        business_error,
        invalid,
        wrong_step,
    )
    from workflows.types import (
        MAIL_REFUSED,
        ChangeEmailInput,
        ChangeEmailResult,
        ConfirmationStatus,
        EmailKind,
        MailRefusal,
        Step,
    )


class MailDelivery(JourneyCore):
    _watching: list[asyncio.Task[None]]  # one per e-mail sent: heeds a lasting refusal

    def _send(self, kind: EmailKind) -> ActivityHandle[SendConfirmationEmailResult]:
        state = self._state
        assert state.profile and state.link_expires_at
        sending = workflow.start_activity_method(
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
        heed = self._heed(sending, kind, state.profile.email, state.link_number)
        self._watching.append(asyncio.create_task(heed))
        return sending

    async def _heed(
        self, sending: ActivityHandle[Any], kind: EmailKind, to: str, link: int
    ) -> None:
        """Records the server's answer when it refuses the address for good; forgets an
        earlier refusal of this address once an e-mail to it goes through, and keeps that
        this link's e-mail went (the portal says "being sent" until then)."""
        state = self._state
        try:
            await sending
        except ActivityError as err:
            refusal = business_error(err, MAIL_REFUSED)
            if refusal is not None and workflow.patched(MAIL_REFUSAL_KEPT):
                answer = str(refusal.details[0]) if refusal.details else refusal.message
                state.mail_refused = MailRefusal(to, kind, answer, workflow.now())
                workflow.logger.info("the mail server refused the %s e-mail", kind.value)
            return
        except asyncio.CancelledError:
            return  # a cancelled journey's mail; nothing to record
        if state.mail_refused is not None and state.mail_refused.address == to:
            state.mail_refused = None
        if state.link_mailed is not None:
            state.link_mailed = max(state.link_mailed, link)

    def _address_refused(self) -> bool:
        """The mail server refused the address the confirmation e-mail goes to now."""
        state = self._state
        refusal = state.mail_refused
        return (
            refusal is not None
            and state.profile is not None
            and (refusal.address == state.profile.email)
        )

    @workflow.update
    async def change_email(self, input: ChangeEmailInput) -> ChangeEmailResult:
        """Another address for the account, after the mail server refused its own: a new
        link goes there, and the old one stops working."""
        async with self._lock:
            self._expect_refused()
            state = self._state
            assert state.profile is not None
            await workflow.execute_local_activity_method(
                AccountActivities.store_account_email,
                StoreAccountEmailInput(journey_id=state.journey_id, email=input.email),
                **DB_CALL,
            )
            state.profile = replace(state.profile, email=input.email)
            state.mail_refused = None
            self._new_link()
            self._progress()
            return ChangeEmailResult(link_number=state.link_number, view=self._view())

    @change_email.validator
    def _validate_change_email(self, input: ChangeEmailInput) -> None:
        self._expect_refused()
        if problems := rules.email_errors(input.email, required=True):
            raise invalid({"email": problems})

    def _expect_refused(self) -> None:
        self._expect(Step.CONFIRM_EMAIL)
        state = self._state
        if state.confirmation is ConfirmationStatus.CONFIRMED or state.mail_refused is None:
            raise wrong_step("no refused address to change")
