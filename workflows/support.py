"""Support staff's actions on a journey. Each is an update naming the staff member and the
reason, so the journey's own history says who did what and why; each validator says whether
the action makes sense where the journey stands."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotificationActivities
    from workflows import rules
    from workflows.journey import MAIL_CALL, JourneyCore, invalid, wrong_step
    from workflows.types import (
        OPEN_STEPS,
        ConfirmationStatus,
        ExtendDeadlineInput,
        ExtendDeadlineResult,
        SendResumeEmailInput,
        SendResumeLinkInput,
        SendResumeLinkResult,
        Step,
        SupportActionInput,
        SupportActionResult,
    )

MAX_EXTENSION_HOURS = 30 * 24


def check_reason(input: SupportActionInput | ExtendDeadlineInput | SendResumeLinkInput) -> None:
    if not input.staff:
        raise wrong_step("no staff member named")
    if len(input.reason.strip()) < 5:
        raise invalid({"reason": [rules.N_("Give the reason for this action.")]})


class SupportActions(JourneyCore):
    def _awaiting_confirmation(self) -> None:
        self._expect(Step.CONFIRM_EMAIL)
        if self._state.confirmation is ConfirmationStatus.CONFIRMED:
            raise wrong_step("already confirmed")

    def _acted(self, input: SupportActionInput | ExtendDeadlineInput | SendResumeLinkInput) -> None:
        # Who and why stand in history as this update's input; the log says it happened.
        workflow.logger.info("support action by %s", input.staff)

    @workflow.update
    def resend_confirmation(self, input: SupportActionInput) -> SupportActionResult:
        """A new confirmation link goes out; the old one stops working."""
        self._awaiting_confirmation()
        self._new_link()
        self._acted(input)
        self._progress()
        return SupportActionResult(step=self._state.step)

    @resend_confirmation.validator
    def _validate_resend_confirmation(self, input: SupportActionInput) -> None:
        self._awaiting_confirmation()
        check_reason(input)

    @workflow.update
    def extend_deadline(self, input: ExtendDeadlineInput) -> ExtendDeadlineResult:
        """The current link works for longer; an expired one works again."""
        self._awaiting_confirmation()
        state = self._state
        assert state.link_expires_at is not None
        base = max(state.link_expires_at, workflow.now())
        state.link_expires_at = base + timedelta(hours=input.hours)
        state.confirmation = ConfirmationStatus.PENDING
        self._deadline_changes += 1
        self._acted(input)
        self._progress()
        return ExtendDeadlineResult(link_expires_at=state.link_expires_at)

    @extend_deadline.validator
    def _validate_extend_deadline(self, input: ExtendDeadlineInput) -> None:
        self._awaiting_confirmation()
        check_reason(input)
        if not 1 <= input.hours <= MAX_EXTENSION_HOURS:
            raise invalid({"hours": [rules.N_("Extend by 1 to 720 hours.")]})

    @workflow.update
    def send_resume_link(self, input: SendResumeLinkInput) -> SendResumeLinkResult:
        """E-mails a link that takes the person back to where their journey stopped."""
        self._expect(*OPEN_STEPS)
        state = self._state
        state.resume_links_sent += 1
        to = input.email or self._known_address()
        sending = workflow.start_activity_method(
            NotificationActivities.send_resume_email,
            SendResumeEmailInput(
                journey_id=state.journey_id,
                resume_link_number=state.resume_links_sent,
                to=to,
                language=state.profile.language if state.profile else state.language,
            ),
            **MAIL_CALL,
        )
        self._sending.append(sending)
        self._acted(input)
        return SendResumeLinkResult(resume_link_number=state.resume_links_sent)

    @send_resume_link.validator
    def _validate_send_resume_link(self, input: SendResumeLinkInput) -> None:
        self._expect(*OPEN_STEPS)
        check_reason(input)
        address = input.email or self._known_address()
        if problems := rules.email_errors(address, required=True):
            raise invalid({"email": problems})

    def _known_address(self) -> str:
        state = self._state
        return state.profile.email if state.profile else state.recovery_email

    @workflow.update
    def unlock_gckey(self, input: SupportActionInput) -> SupportActionResult:
        self._expect_locked()
        state = self._state
        state.locked_until = None
        state.failed_sign_ins = 0
        self._acted(input)
        return SupportActionResult(step=state.step)

    @unlock_gckey.validator
    def _validate_unlock_gckey(self, input: SupportActionInput) -> None:
        self._expect_locked()
        check_reason(input)

    def _expect_locked(self) -> None:
        locked_until = self._state.locked_until
        if locked_until is None or workflow.now() >= locked_until:
            raise wrong_step("GCKey not locked")

    @workflow.update
    def cancel(self, input: SupportActionInput) -> SupportActionResult:
        """Ends a journey that will not be finished; nothing more can be sent to it."""
        self._expect(*OPEN_STEPS)
        state = self._state
        state.step = Step.CANCELLED
        state.cancelled_at = workflow.now()
        state.cancel_reason = input.reason.strip()
        self._acted(input)
        self._progress()
        return SupportActionResult(step=state.step)

    @cancel.validator
    def _validate_cancel(self, input: SupportActionInput) -> None:
        self._expect(*OPEN_STEPS)
        check_reason(input)
