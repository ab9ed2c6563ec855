"""The journey's custom search attributes: what the staff list filters on in Temporal visibility.

Defined once here; the workflow upserts them, the staff list queries them, and the dev server,
the tests and the compose stack register them under these names and types. They hold only
where a journey stands, never an e-mail, a name or a username (those stay in the application
database, which resolves them to the journey id).
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

ALL = (STEP, LOGIN_METHOD, STATUS, LAST_PROGRESS, DEADLINE)

# The type names `temporal server start-dev --search-attribute NAME=TYPE` and
# `temporal operator search-attribute create --type TYPE` take.
CLI_TYPES = {key.name: "Datetime" if key in (LAST_PROGRESS, DEADLINE) else "Keyword" for key in ALL}


def dev_server_args() -> list[str]:
    """``--search-attribute NAME=TYPE`` for each, as the dev server takes them at start."""
    return [
        arg for name, kind in CLI_TYPES.items() for arg in ("--search-attribute", f"{name}={kind}")
    ]
