"""Support staff's actions on a journey. Each is an update naming the staff member and the
reason, so the journey's own history says who did what and why; each validator says whether
the action makes sense where the journey stands."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotificationActivities
    from workflows import rules
    from workflows.activity_types import (
        SendResumeEmailInput,
    )
    from workflows.journey import MAIL_CALL, JourneyCore, invalid, wrong_step
    from workflows.types import (
        OPEN_STEPS,
        RESUME_LINK_DEAD,
        ConfirmationStatus,
        ExtendDeadlineInput,
        ExtendDeadlineResult,
        JourneyState,
        SendResumeLinkInput,
        SendResumeLinkResult,
        Step,
        SupportActionInput,
        SupportActionResult,
        UseResumeLinkInput,
        UseResumeLinkResult,
    )

MAX_EXTENSION_HOURS = 30 * 24
REASON_MAX = 500
RESUME_LINK_HOURS = 72  # the e-mail says so
NO_SUCH_ADDRESS = rules.N_("Choose one of the addresses this journey holds.")


def has_credential(state: JourneyState) -> bool:
    """A GCKey issued or a Sign-In Partner linked: someone a sign-in can tell apart."""
    return state.gckey_issued_at is not None or state.partner_linked_at is not None


def resume_addresses(state: JourneyState) -> dict[str, str]:
    """Where support may send a link back to the journey, and what each address is (a
    msgid): one the journey confirmed, or the recovery e-mail its GCKey owns. Never an
    address staff type: a link must reach the journey's owner, not whoever asks for it."""
    found: dict[str, str] = {}
    if state.gckey_issued_at is not None and state.recovery_email:
        found[state.recovery_email] = rules.N_("The GCKey's recovery e-mail address")
    if state.profile is not None and state.confirmed_at is not None:
        found.setdefault(state.profile.email, rules.N_("The confirmed account e-mail address"))
    return found


def why_link_dead(state: JourneyState, number: int, now: datetime) -> str | None:
    """Why resume link ``number`` no longer works, or None while it does: the newest link,
    not yet used, not expired, on an open journey that has a credential."""
    if state.step not in OPEN_STEPS:
        return f"journey is at {state.step.value}"
    if not has_credential(state):
        return "no GCKey or Sign-In Partner yet"
    if number != state.resume_links_sent:
        return "replaced by a newer link"
    if state.resume_link_used == number:
        return "already used"
    # A link sent before links were tracked here has no expiry: it no longer works either.
    if state.resume_link_expires_at is None or now >= state.resume_link_expires_at:
        return "expired"
    return None


def check_reason(input: SupportActionInput | ExtendDeadlineInput | SendResumeLinkInput) -> None:
    if not input.staff:
        raise wrong_step("no staff member named")
    if len(input.reason.strip()) < 5:
        raise invalid({"reason": [rules.N_("Give the reason for this action.")]})
    if len(input.reason.strip()) > REASON_MAX:  # the audit log keeps it whole
        raise invalid({"reason": [rules.N_("Use at most 500 characters.")]})


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
        return SupportActionResult(step=self._state.step, view=self._view())

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
        return ExtendDeadlineResult(link_expires_at=state.link_expires_at, view=self._view())

    @extend_deadline.validator
    def _validate_extend_deadline(self, input: ExtendDeadlineInput) -> None:
        self._awaiting_confirmation()
        check_reason(input)
        if not 1 <= input.hours <= MAX_EXTENSION_HOURS:
            raise invalid({"hours": [rules.N_("Extend by 1 to 720 hours.")]})

    @workflow.update
    def send_resume_link(self, input: SendResumeLinkInput) -> SendResumeLinkResult:
        """E-mails a link that leads the person to sign in, and from there to where their
        journey stopped. The new link revokes the older ones; it works once, for 72 hours."""
        # The validator alone refuses what older code allowed, so older histories replay.
        self._expect(*OPEN_STEPS)
        state = self._state
        state.resume_links_sent += 1
        state.resume_link_expires_at = workflow.now() + timedelta(hours=RESUME_LINK_HOURS)
        sending = workflow.start_activity_method(
            NotificationActivities.send_resume_email,
            SendResumeEmailInput(
                journey_id=state.journey_id,
                resume_link_number=state.resume_links_sent,
                to=input.email,
                language=state.profile.language if state.profile else state.language,
            ),
            **MAIL_CALL,
        )
        self._sending.append(sending)
        self._acted(input)
        return SendResumeLinkResult(resume_link_number=state.resume_links_sent, view=self._view())

    @send_resume_link.validator
    def _validate_send_resume_link(self, input: SendResumeLinkInput) -> None:
        self._expect(*OPEN_STEPS)
        check_reason(input)
        # Before a credential exists nobody can be told apart from whoever holds a link.
        if not has_credential(self._state):
            raise wrong_step("no GCKey or Sign-In Partner yet")
        if input.email not in resume_addresses(self._state):
            raise invalid({"email": [NO_SUCH_ADDRESS]})

    @workflow.update
    def use_resume_link(self, input: UseResumeLinkInput) -> UseResumeLinkResult:
        """The link was opened: used up. The answer says how the person signs in."""
        state = self._state
        state.resume_link_used = input.resume_link_number
        state.resume_link_used_at = workflow.now()
        return UseResumeLinkResult(login_method=state.login_method)

    @use_resume_link.validator
    def _validate_use_resume_link(self, input: UseResumeLinkInput) -> None:
        if why := why_link_dead(self._state, input.resume_link_number, workflow.now()):
            raise ApplicationError(why, type=RESUME_LINK_DEAD, non_retryable=True)

    @workflow.update
    def unlock_gckey(self, input: SupportActionInput) -> SupportActionResult:
        self._expect_locked()
        state = self._state
        state.locked_until = None
        state.failed_sign_ins = 0
        self._acted(input)
        return SupportActionResult(step=state.step, view=self._view())

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
        return SupportActionResult(step=state.step, view=self._view())

    @cancel.validator
    def _validate_cancel(self, input: SupportActionInput) -> None:
        self._expect(*OPEN_STEPS)
        check_reason(input)
