"""When a journey is stuck, and why. Pure: the page hands in what Temporal said.

The list knows only a journey's search attributes (workflows/search.py), so each reason below
has its attribute, and ``stuck_query`` is the same rule as a visibility query: "stuck only" is
one visibility call. A journey's own page also reads its description and state, and so can say
more (the attempt, the last failure, the refused address).

A running journey is stuck when any of these holds:
  - it is still open (not at one of the FINISHED_STEPS) and has made no progress for
    longer than ``stuck_after_hours`` (settings.py);
  - an e-mail has failed its first attempts and is still retrying (the mail server is down or
    answers 4xx; the workflow says so in ``CersEmailFailing``, workflows/journey.py); on the
    journey's page, any pending activity retrying, with its attempt count and last failure;
  - its confirmation e-mail's link has expired and nobody has asked for a new one;
  - its GCKey is locked after failed sign-ins (``CersLockedUntil``);
  - its workflow task keeps failing (attempt 2 or more): the worker refuses something sent to
    it, such as a message not encrypted with the service's keys (core/crypto.py), and nothing
    the journey does moves on until that is dealt with; its timeline says what was refused
    (Temporal's own ``TemporalReportedProblems``, which the server sets after a few failures);
  - the mail server refused its confirmation e-mail's address for good (an SMTP 5xx): the
    address and the server's answer are shown, until the person gives another address
    (``CersMailRefused``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from workflows import search
from workflows.rules import N_
from workflows.search import JourneyStatus
from workflows.types import FINISHED_STEPS, ConfirmationStatus, JourneyState, Step

# Closed in all but name: nobody is expected to move these on.
FINISHED_STATUSES = set(JourneyStatus) - {
    JourneyStatus.IN_PROGRESS,
    JourneyStatus.AWAITING_CONFIRMATION,
}


@dataclass(frozen=True)
class PendingActivity:
    activity_type: str
    attempt: int
    last_failure: str = ""
    next_attempt_at: datetime | None = None

    @property
    def retrying(self) -> bool:
        return self.attempt > 1 or bool(self.last_failure)


@dataclass(frozen=True)
class Stuck:
    """One reason, as a msgid and its values; ``kind`` is for filters and tests."""

    kind: str
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def shown(self, when: Callable[[datetime], str]) -> dict[str, Any]:
        """The values for the message, moments written as the page writes them."""
        return {k: when(v) if isinstance(v, datetime) else v for k, v in self.values.items()}


NO_PROGRESS = N_("No progress for more than %(hours)s hours")
RETRYING = N_("%(activity)s is retrying: attempt %(attempt)s, last failure: %(failure)s")
LINK_EXPIRED = N_("The confirmation link has expired and no new one was asked for")
GCKEY_LOCKED = N_("The GCKey is locked after failed sign-ins, until %(until)s")
WORKER_REFUSES = N_(
    "The worker refuses what was last sent to this journey and keeps retrying "
    "(attempt %(attempt)s); the timeline says why"
)
MAIL_REFUSED = N_("The mail server refused the address %(address)s: %(answer)s")
# The list's words for the same, from search attributes alone (no address, no attempt count).
EMAIL_FAILING = N_("An e-mail keeps failing to go: the mail server is down or deferring it")
WORKER_REFUSES_LISTED = N_(
    "The worker refuses what was last sent to this journey and keeps retrying; the timeline "
    "says why"
)
MAIL_REFUSED_LISTED = N_("The mail server refused the confirmation e-mail's address for good")
OPEN_STATUSES = (JourneyStatus.IN_PROGRESS, JourneyStatus.AWAITING_CONFIRMATION)


def is_open(step: str | None, status: str | None) -> bool:
    return status not in FINISHED_STATUSES and step not in FINISHED_STEPS


def last_progress_of(state: JourneyState | None) -> datetime | None:
    """The latest moment the journey's own state records, for journeys whose search
    attributes were never set (started before the workflow upserted them)."""
    if state is None:
        return None
    moments = [
        state.started_at,
        state.terms_answered_at,
        state.password_set_at,
        state.gckey_issued_at,
        state.account_created_at,
        state.link_sent_at,
        state.confirmed_at,
    ]
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def stuck_reasons(
    *,
    now: datetime,
    stuck_after: timedelta,
    running: bool,
    step: str | None,
    status: str | None,
    last_progress: datetime | None,
    pending: list[PendingActivity],
    state: JourneyState | None,
    deadline: datetime | None = None,
    workflow_task_attempt: int = 0,
    email_failing: bool = False,
    mail_refused: bool = False,
    locked_until: datetime | None = None,
    reported_problems: bool = False,
) -> list[Stuck]:
    """The reasons; ``state`` None (the list) leaves them to the search attributes given."""
    if not running:
        return []
    reasons: list[Stuck] = []
    if workflow_task_attempt > 1:
        reasons.append(Stuck("worker_refuses", WORKER_REFUSES, {"attempt": workflow_task_attempt}))
    elif reported_problems:
        reasons.append(Stuck("worker_refuses", WORKER_REFUSES_LISTED))
    open_journey = is_open(step, status)
    if open_journey and last_progress is not None and now - last_progress > stuck_after:
        hours = round(stuck_after.total_seconds() / 3600, 1)
        reasons.append(Stuck("no_progress", NO_PROGRESS, {"hours": f"{hours:g}"}))
    for activity in pending:
        if activity.retrying:
            values = {
                "activity": activity.activity_type,
                "attempt": activity.attempt,
                "failure": activity.last_failure or "-",
            }
            reasons.append(Stuck("activity_retrying", RETRYING, values))
    if email_failing and not any(r.kind == "activity_retrying" for r in reasons):
        reasons.append(Stuck("email_failing", EMAIL_FAILING))
    if open_journey and link_expired(now, step, deadline, state):
        reasons.append(Stuck("confirmation_expired", LINK_EXPIRED))
    if state is not None:
        locked_until = state.locked_until
    if locked_until is not None and locked_until > now:
        reasons.append(Stuck("gckey_locked", GCKEY_LOCKED, {"until": locked_until}))
    refusal = state.mail_refused if state is not None else None
    if refusal is not None:
        values = {"address": refusal.address, "answer": refusal.answer}
        reasons.append(Stuck("mail_refused", MAIL_REFUSED, values))
    elif state is None and mail_refused:
        reasons.append(Stuck("mail_refused", MAIL_REFUSED_LISTED))
    return reasons


def stuck_query(now: datetime, stuck_after: timedelta) -> str:
    """``stuck_reasons`` over search attributes, as a visibility query: a running journey
    with any reason. Only moments and closed sets go in, never what a person typed."""
    cutoff = (now - stuck_after).isoformat()
    moment = now.isoformat()
    open_statuses = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)
    reasons = [
        f"({search.STATUS.name} IN ({open_statuses}) AND {search.LAST_PROGRESS.name} < '{cutoff}')",
        f"{search.EMAIL_FAILING.name} = true",
        f"({search.STEP.name} = '{Step.CONFIRM_EMAIL.value}' "
        f"AND {search.DEADLINE.name} <= '{moment}')",
        f"{search.LOCKED_UNTIL.name} > '{moment}'",
        f"{search.MAIL_REFUSED.name} = true",
        f"{search.REPORTED_PROBLEMS} IS NOT NULL",
    ]
    return f"ExecutionStatus = 'Running' AND ({' OR '.join(reasons)})"


def link_expired(
    now: datetime, step: str | None, deadline: datetime | None, state: JourneyState | None
) -> bool:
    if state is None:  # it did not answer: its search attributes tell
        return step == Step.CONFIRM_EMAIL and deadline is not None and deadline <= now
    if state.step is not Step.CONFIRM_EMAIL:
        return False
    if state.confirmation is ConfirmationStatus.EXPIRED:
        return True
    # The expiry timer may not have fired yet (a worker down): the link is dead all the same.
    return (
        state.confirmation is ConfirmationStatus.PENDING
        and state.link_expires_at is not None
        and state.link_expires_at <= now
    )
