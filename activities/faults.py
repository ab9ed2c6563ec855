"""The faults the service expects to meet, logged as one line per failed attempt: a mail
server that refuses or is down, a database that does not answer, a business error an activity
raises on purpose. The SDK's worker logs every failed activity attempt ("Completing activity
as failed") with a full traceback; under an outage that is hundreds of them, none telling more
than its last line. A traceback is kept for the unexpected."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError
from temporalio.exceptions import ApplicationError

from activities.email import MailNotSent

# The SDK's activity logger: its failed attempts, and the activities' own lines.
ACTIVITY_LOGGER = "temporalio.activity"
# The SDK's workflow worker: it logs a payload it could not encode or decode with a traceback,
# and the codec meets the same outage when a journey's data key must be read from a database
# that does not answer (a new workflow, or a key past its cache time; the task is retried).
WORKFLOW_WORKER_LOGGER = "temporalio.worker._workflow"
EXPECTED: tuple[type[BaseException], ...] = (
    MailNotSent,  # a 4xx, a dropped connection, a server that is down
    ApplicationError,  # raised on purpose: a refusal for good, a username taken
    DBAPIError,  # the database did not answer, or dropped the connection
    ConnectionError,
    TimeoutError,
)


def describe(err: BaseException) -> str:
    """The error on one line. A database error's own text carries its SQL statement and
    parameters (an address, a name): only the driver's first line is kept."""
    if isinstance(err, DBAPIError):
        text = str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else ""
    else:
        text = str(err)
    return f"{type(err).__name__}: {' '.join(text.split())[:300]}"


class OneLineFaults(logging.Filter):
    """Folds an expected fault's traceback into its record's message, on one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        if err is not None and isinstance(err, EXPECTED):
            record.msg = f"{record.getMessage()}: {describe(err)}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_expected_faults() -> None:
    """Installs the filter on the SDK's activity and workflow worker loggers, once per process."""
    for name in (ACTIVITY_LOGGER, WORKFLOW_WORKER_LOGGER):
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineFaults) for f in logger.filters):
            logger.addFilter(OneLineFaults())
