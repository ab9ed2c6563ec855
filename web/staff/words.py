"""What the staff pages call each step, status and login method, in plain words."""

from __future__ import annotations

from workflows.rules import N_
from workflows.search import JourneyStatus
from workflows.types import LoginMethod, Step

STEPS: dict[str, str] = {
    Step.PARTNER_SIGN_IN: N_("Waiting for the Sign-In Partner"),
    Step.TERMS: N_("Reading the terms and conditions"),
    Step.USERNAME: N_("Choosing a username"),
    Step.PASSWORD: N_("Choosing a password"),
    Step.RECOVERY_ANSWERS: N_("Answering the recovery questions"),
    Step.RECOVERY_EMAIL: N_("Giving a recovery e-mail address"),
    Step.CREATE_ACCOUNT: N_("Creating the user account"),
    Step.CONFIRM_EMAIL: N_("Confirming the e-mail address"),
    Step.PORTAL: N_("Done: in the portal"),
    Step.DECLINED: N_("Declined the terms and conditions"),
    Step.GCKEY_EXPIRED: N_("GCKey expired unused"),
    Step.CANCELLED: N_("Cancelled by support"),
    Step.ABANDONED: N_("Abandoned: no progress before a GCKey or Sign-In Partner sign-in"),
}
STATUSES = {
    JourneyStatus.IN_PROGRESS: N_("In progress"),
    JourneyStatus.AWAITING_CONFIRMATION: N_("Awaiting e-mail confirmation"),
    JourneyStatus.COMPLETED: N_("Completed"),
    JourneyStatus.DECLINED: N_("Declined"),
    JourneyStatus.CANCELLED: N_("Cancelled"),
    JourneyStatus.EXPIRED: N_("Expired"),
    JourneyStatus.ABANDONED: N_("Abandoned"),
}
LOGIN_METHODS = {
    LoginMethod.GCKEY: N_("GCKey"),
    LoginMethod.SIGN_IN_PARTNER: N_("Sign-In Partner"),
}
ROLES = {"support": N_("support"), "auditor": N_("auditor")}
# Temporal's own status of the execution, for the journey page.
EXECUTION = {
    "running": N_("Running"),
    "completed": N_("Closed: completed"),
    "failed": N_("Closed: failed"),
    "canceled": N_("Closed: cancelled"),
    "terminated": N_("Closed: terminated"),
    "continued_as_new": N_("Continued as a new run"),
    "timed_out": N_("Closed: timed out"),
}


def words(table: dict[str, str], value: str | None) -> str:
    """The plain words for a value, the value itself for one added since, "" for none."""
    if not value:
        return ""
    return table.get(value, value)
