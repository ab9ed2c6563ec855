"""What each event of a journey's history says, in plain words.

One table, ``SAYS``, maps a journey message (update or signal name), an activity or a closing
to an English msgid whose placeholders are filled from the event's decoded input and result.
A key may carry a variant after a colon (``answer_terms:declined``); the most specific key
found wins, and a name not in the table is still told, generically. Adding a workflow update
means adding one line here (and its French in the catalog).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Union

from workflows.rules import N_
from workflows.types import Step

Value = Union[str, "Msg", tuple["Msg", ...]]


@dataclass(frozen=True)
class Msg:
    """An English msgid and the values of its placeholders, translated when rendered."""

    text: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def render(self, gettext: Callable[[str], str]) -> str:
        values = {name: _render(value, gettext) for name, value in self.values.items()}
        text = gettext(self.text)
        return text % values if values else text


def _render(value: Value, gettext: Callable[[str], str]) -> str:
    if isinstance(value, Msg):
        return value.render(gettext)
    if isinstance(value, tuple):
        return " ".join(m.render(gettext) for m in value)
    return value


SAYS: dict[str, str] = {
    # The journey, in the order a person lives it (updates and signals, by name).
    "started": N_("Journey started."),
    "started:rules": N_("Journey started, checked against rule set version %(rules_version)s."),
    "begin": N_("Login choice: %(login_method)s, in %(language)s."),
    "answer_terms:accepted": N_(
        "Terms and conditions version %(terms_version)s accepted, read in %(language)s."
    ),
    "answer_terms:declined": N_(
        "Terms and conditions version %(terms_version)s declined, read in %(language)s."
    ),
    "choose_username": N_("Username chosen: %(username)s."),
    "choose_username:refused": N_("Username %(username)s refused: %(why)s"),
    "set_password": N_("Password set."),
    "set_recovery_answers": N_("Recovery answers set: %(count)s questions."),
    "set_recovery_email": N_("Recovery e-mail address set: %(email)s."),
    "set_recovery_email:skipped": N_("Recovery e-mail address skipped."),
    "create_account": N_(
        "Create User Account form sent: %(given_name)s %(family_name)s, %(email)s, "
        "time zone %(time_zone)s, preferred language %(language)s."
    ),
    "confirm_email": N_("E-mail address confirmed with link %(link_number)s."),
    "request_new_link": N_("New confirmation link requested: link %(link_number)s."),
    "change_email": N_(
        "E-mail address changed to %(email)s after the mail server refused the old one."
    ),
    "link_partner": N_("Signed in through a Sign-In Partner (%(issuer)s) for the first time."),
    "record_sign_in:signed_in": N_("Signed in with the GCKey."),
    "record_sign_in:failed": N_("GCKey sign-in refused: wrong username or password."),
    "record_sign_in:locked_now": N_(
        "GCKey sign-in refused: wrong username or password; that failure locked the GCKey."
    ),
    "record_sign_in:locked": N_("GCKey sign-in refused: the GCKey is locked."),
    "record_sign_in:expired": N_("GCKey sign-in refused: the GCKey has expired."),
    # Counted by the site (db/sign_ins.py) and told to the journey after: the same words.
    "sign_in_decided:signed_in": N_("Signed in with the GCKey."),
    "sign_in_decided:failed": N_("GCKey sign-in refused: wrong username or password."),
    "sign_in_decided:locked_now": N_(
        "GCKey sign-in refused: wrong username or password; that failure locked the GCKey."
    ),
    "sign_in_decided:locked": N_("GCKey sign-in refused: the GCKey is locked."),
    "record_partner_attempt": N_(
        "Came back through a Sign-In Partner (%(issuer)s); not merged, default access "
        "unchanged: %(default_access)s."
    ),
    "password_reset": N_("Password reset."),
    "watch_for_abandonment": N_(
        "Begun before unfinished sign-ups were ended: from now on it ends as abandoned if left."
    ),
    # Support actions; each is followed by who did it and why (SUPPORT_ACTION).
    "resend_confirmation": N_(
        "Confirmation e-mail resent with a new link; the old link no longer works."
    ),
    "extend_deadline": N_("Confirmation deadline extended by %(hours)s hours."),
    "send_resume_link": N_("Link to resume the journey sent."),
    "use_resume_link": N_(
        "Resume link %(resume_link_number)s opened and used up; the person was sent to sign in."
    ),
    "unlock_gckey": N_("GCKey unlocked."),
    "cancel": N_("Journey cancelled."),
    # Local activities, by the names history records: the durable facts the steps produced.
    "local:issue_gckey": N_("GCKey issued."),
    "local:create_user_account": N_("CERS user account created, URN %(urn)s."),
    "local:link_partner_identity": N_("Sign-In Partner identity kept for this journey."),
    "local:expire_gckey": N_("GCKey expired after going unused."),
    "local:release_username": N_(
        "Sign-up abandoned with no progress; its username is free for anyone again."
    ),
    "local:store_account_email": N_("CERS user account e-mail address now %(email)s."),
    # Regular activities (their names may also be an update's, hence the prefix).
    "activity:send_confirmation_email:confirmation": N_(
        "Confirmation e-mail sent to %(to)s, link %(link_number)s."
    ),
    "activity:send_confirmation_email:reminder": N_(
        "Reminder e-mail sent to %(to)s, link %(link_number)s."
    ),
    "activity:send_confirmation_email:failed": N_(
        "The e-mail to %(to)s, link %(link_number)s, could not be sent: %(failure)s"
    ),
    "activity:send_confirmation_email:confirmation:pending": N_(
        "Confirmation e-mail to %(to)s, link %(link_number)s, not sent yet: attempt "
        "%(attempt)s, last failure: %(failure)s"
    ),
    "activity:send_confirmation_email:reminder:pending": N_(
        "Reminder e-mail to %(to)s, link %(link_number)s, not sent yet: attempt %(attempt)s, "
        "last failure: %(failure)s"
    ),
    "activity:send_resume_link": N_("Resume link %(resume_link_number)s e-mailed to %(to)s."),
    "activity:send_lock_notice": N_(
        "The owner was told by e-mail, at %(to)s, that the GCKey is locked (lock %(lock_number)s)."
    ),
    # Timers.
    "timer:link_expired": N_("Confirmation link %(link_number)s expired."),
    "timer": N_("A waiting period ended."),
    # The close of the journey: at each of its FINISHED_STEPS, then at any other step.
    f"completed:{Step.PORTAL}": N_("Journey completed: the e-mail address is confirmed."),
    f"completed:{Step.DECLINED}": N_("Journey ended: the terms and conditions were declined."),
    f"completed:{Step.GCKEY_EXPIRED}": N_("Journey ended: the GCKey expired."),
    f"completed:{Step.CANCELLED}": N_("Journey ended: cancelled by support staff."),
    f"completed:{Step.ABANDONED}": N_(
        "Journey ended: the sign-up was abandoned, with no progress for too long."
    ),
    "completed": N_("Journey completed at step %(step)s."),
    "failed": N_("Journey failed: %(failure)s"),
    "terminated": N_("Journey terminated: %(reason)s"),
    "cancel_requested": N_("Cancellation of the journey requested."),
    "cancelled": N_("Journey cancelled."),
    "timed_out": N_("Journey timed out."),
    "continued_as_new": N_("Journey continued in a new run."),
    # The worker could not go on (a payload not encrypted with the service's keys, a bug);
    # it retries until that is dealt with, and Temporal records only the first failure.
    "worker_failed": N_("The worker refused to go on, and keeps retrying: %(failure)s"),
    "move_to_encrypted_history": N_(
        "Moved onto encrypted history, at the request of %(operator)s."
    ),
}

# Told when the table has nothing more specific.
UNKNOWN_MESSAGE = N_("Journey message %(name)s: %(details)s")
UNKNOWN_MESSAGE_BARE = N_("Journey message %(name)s.")
REFUSED = N_("Journey message %(name)s refused: %(why)s")
IN_PROGRESS = N_("%(action)s (in progress)")
UNKNOWN_TASK = N_("Task %(name)s done.")
TASK_FAILED = N_("Task %(name)s could not be done: %(failure)s")
TASK_PENDING = N_("Task %(name)s not done yet: attempt %(attempt)s, last failure: %(failure)s")
RETRIED = N_("%(action)s It took %(attempts)s attempts; the last failure was: %(failure)s")
SUPPORT_ACTION = N_("%(action)s By %(staff)s, because: %(reason)s")
NO_REASON = N_("no reason given")

LANGUAGE_NAMES = {"en": N_("English"), "fr": N_("French")}
LOGIN_METHODS = {"gckey": N_("GCKey"), "sign_in_partner": N_("Sign-In Partner")}


def says(*keys: str) -> str | None:
    """The msgid of the first key the table has."""
    return next((SAYS[k] for k in keys if k in SAYS), None)
