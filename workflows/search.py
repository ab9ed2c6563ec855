"""The journey's custom search attributes: what the staff list filters on in Temporal visibility.

Defined once here; the workflow upserts them, the staff list queries them, and the dev server,
the tests and the compose stack register them under these names and types. They hold only
where a journey stands, never an e-mail, a name or a username (those stay in the application
database, which resolves them to the journey id). Everything the list shows and everything
"stuck only" filters on is here, so a page of the list is one visibility call.
"""

from __future__ import annotations

from enum import StrEnum

from temporalio.common import SearchAttributeKey


class JourneyStatus(StrEnum):
    """The value of ``CersStatus``."""

    IN_PROGRESS = "in_progress"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    COMPLETED = "completed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    ABANDONED = "abandoned"


STEP = SearchAttributeKey.for_keyword("CersStep")  # a workflows.types.Step value
LOGIN_METHOD = SearchAttributeKey.for_keyword("CersLoginMethod")  # a LoginMethod value
STATUS = SearchAttributeKey.for_keyword("CersStatus")  # a JourneyStatus value
LAST_PROGRESS = SearchAttributeKey.for_datetime("CersLastProgress")
DEADLINE = SearchAttributeKey.for_datetime("CersDeadline")
# True while an e-mail of the journey's has failed its first attempts and is still retrying
# (the mail server down or answering 4xx); unset or False once it went, or was given up.
EMAIL_FAILING = SearchAttributeKey.for_bool("CersEmailFailing")
# True while the mail server has refused the confirmation e-mail's address for good (a 5xx).
MAIL_REFUSED = SearchAttributeKey.for_bool("CersMailRefused")
# When the GCKey's lock after failed sign-ins ends; unset when it has none.
LOCKED_UNTIL = SearchAttributeKey.for_datetime("CersLockedUntil")

ALL = (
    STEP,
    LOGIN_METHOD,
    STATUS,
    LAST_PROGRESS,
    DEADLINE,
    EMAIL_FAILING,
    MAIL_REFUSED,
    LOCKED_UNTIL,
)

# Temporal's own attribute, set by the server on a workflow whose workflow task keeps failing
# (the worker refuses what was sent to it) once it has failed this many times in a row. The
# server leaves it off unless told: the dev server by these arguments, a cluster by its
# dynamic config (docker-compose.yml).
REPORTED_PROBLEMS = "TemporalReportedProblems"
PROBLEMS_AFTER_FAILURES = 2
PROBLEMS_CONFIG_KEY = "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute"

# The type names `temporal server start-dev --search-attribute NAME=TYPE` and
# `temporal operator search-attribute create --type TYPE` take.
_CLI_TYPE = {"DATETIME": "Datetime", "KEYWORD": "Keyword", "BOOL": "Bool"}
CLI_TYPES = {key.name: _CLI_TYPE[key.indexed_value_type.name] for key in ALL}


def dev_server_args() -> list[str]:
    """``--search-attribute NAME=TYPE`` for each, as the dev server takes them at start, and
    the dynamic config that has the server report a journey whose workflow task keeps failing."""
    return [
        *(
            arg
            for name, kind in CLI_TYPES.items()
            for arg in ("--search-attribute", f"{name}={kind}")
        ),
        "--dynamic-config-value",
        f"{PROBLEMS_CONFIG_KEY}={PROBLEMS_AFTER_FAILURES}",
    ]
