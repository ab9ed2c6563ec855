"""Quiet, useful logs under faults: a mail server refusing, or a database that does not
answer, leaves one line per failed attempt in the worker's log, with the error, and no
traceback (one outage once left 379 of them, the SDK's "Completing activity as failed")."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.faults import (
    WORKFLOW_WORKER_LOGGER,
    OneLineFaults,
    describe,
    quiet_expected_faults,
)
from core.temporal import data_converter
from db.datakeys import DataKeys
from db.engine import make_engine, migrate
from devstack.faults import relay_to
from devstack.servers import MailServer
from settings import Settings
from tests.conftest import POSTGRES_URL, postgres_schema, until
from tests.journeys import begin, create_account, journey_handle, new_address, new_username, sign_up
from tests.process_helpers import started, worker_environment
from workflows.onboarding import OnboardingWorkflow
from workflows.types import AnswerTermsInput, ChooseUsernameInput, Step

FAILED_ATTEMPT = "Completing activity as failed"
# These read the SDK's ids where a text line puts them, in the message; a JSON line (the
# default outside development) has them as the temporal_activity field instead.
TEXT_LINES = "text"


class RefusingAtFirst(MailServer):
    """Answers 451 to the first ``refusals`` messages, then takes them."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.tries = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.tries += 1
        self.refuse = self.tries <= self.refusals
        return await super().handle_DATA(server, session, envelope)


def failed_attempts(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if FAILED_ATTEMPT in line]


async def test_a_refusing_mail_server_logs_one_line_per_attempt(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    server = RefusingAtFirst(refusals=2)
    settings = settings.model_copy(update={"smtp_port": server.port})
    log = tmp_path / "worker.log"
    with server.serving():
        command = (sys.executable, "worker.py")
        env = {**worker_environment(client, settings), "LOG_FORMAT": TEXT_LINES}
        async with started(command, env, log, b"worker polling") as worker:
            workflow_id = await begin(client, settings)
            await sign_up(client, workflow_id, new_username())
            handle = journey_handle(client, workflow_id)
            await create_account(handle, new_address())

            async def delivered() -> bool:
                events = (await handle.fetch_history()).events
                done = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                return any(e.event_type == done for e in events)

            await until(delivered, what="the e-mail to go on its third attempt", timeout=30)
            worker.send_signal(signal.SIGTERM)
            await worker.wait()
            await handle.terminate("test finished")
    assert server.tries == 3
    lines = failed_attempts(log)
    assert len(lines) == 2, lines
    for attempt, line in enumerate(lines, start=1):
        assert f"'attempt': {attempt}" in line
        assert "send_confirmation_email" in line
        assert line.endswith("MailNotSent: (451, '4.3.0 Mail server temporarily unavailable')")
    assert "Traceback" not in log.read_text()


@pytest.fixture
def schema_url() -> Iterator[str]:
    """A schema of its own in the test PostgreSQL, as the persistence tests make one."""
    with postgres_schema() as (url, _):
        yield url


async def test_an_unreachable_database_logs_one_line_per_attempt(
    client: Client, settings: Settings, tmp_path: Path, schema_url: str
) -> None:
    """The worker cut from PostgreSQL (through a proxy: the machine's PostgreSQL keeps
    running) while a person picks a username: each attempt of the local activity is a line,
    and once the database is back the step goes through (it waits up to two minutes)."""
    target = POSTGRES_URL.split("@", 1)[1].split("/", 1)[0]
    # The test's calls keep each journey's data key where the worker process does: in this
    # schema (straight, not through the proxy it cuts).
    keys_engine = make_engine(schema_url)
    client = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=data_converter(
            settings.payload_ring, DataKeys(keys_engine, settings.payload_ring)
        ),
    )
    try:
        await cut_while_choosing_a_username(client, settings, tmp_path, schema_url, target)
    finally:
        keys_engine.dispose()
    log = tmp_path / "worker.log"
    # The archive's sweep, meeting the same outage, has lines of its own.
    lines = [line for line in failed_attempts(log) if "'reserve_username'" in line]
    assert len(lines) >= 3, lines  # one a failed attempt, while the database was cut
    for attempt, line in enumerate(lines, start=1):
        assert f"'attempt': {attempt}" in line
    assert all("OperationalError: connection failed: " in line for line in lines)
    assert "Traceback" not in log.read_text()


async def cut_while_choosing_a_username(
    client: Client, settings: Settings, tmp_path: Path, schema_url: str, target: str
) -> None:
    async with relay_to(target) as line:
        url = schema_url.replace(target, line.address, 1)
        await asyncio.to_thread(migrate, url)  # the proxy runs on this loop
        log = tmp_path / "worker.log"
        env = {
            **worker_environment(client, settings),
            "DATABASE_URL": url,
            "LOG_FORMAT": TEXT_LINES,
        }
        async with started((sys.executable, "worker.py"), env, log, b"worker polling"):
            workflow_id = await begin(client, settings)
            handle = journey_handle(client, workflow_id)
            await handle.execute_update(
                OnboardingWorkflow.answer_terms,
                AnswerTermsInput(accepted=True, terms_version="2024-07"),
            )
            line.cut()
            choosing = asyncio.ensure_future(
                handle.execute_update(
                    OnboardingWorkflow.choose_username, ChooseUsernameInput(new_username())
                )
            )
            await until(
                lambda: sum("'reserve_username'" in x for x in failed_attempts(log)) >= 3,
                what="three failed attempts of the username step",
                timeout=60,
            )
            # The database back within the step's patience: the step goes through.
            line.restore()
            chosen = await choosing
            assert chosen.step is Step.PASSWORD
            await handle.terminate("test finished")


def test_an_unexpected_error_keeps_its_traceback_and_sql_stays_out() -> None:
    """The filter folds only what is expected; a database error's statement and parameters
    (an address) never reach the line."""
    import logging

    from sqlalchemy.exc import OperationalError

    def record(err: BaseException) -> logging.LogRecord:
        try:
            raise err
        except BaseException:  # noqa: BLE001  (the record carries whatever was raised)
            return logging.LogRecord(
                "temporalio.activity",
                logging.WARNING,
                __file__,
                1,
                FAILED_ATTEMPT,
                (),
                sys.exc_info(),
            )

    unexpected = record(KeyError("profile"))
    assert OneLineFaults().filter(unexpected) and unexpected.exc_info is not None
    statement = "INSERT INTO user_account (email) VALUES (%(email)s)"
    db_error = OperationalError(statement, {"email": "marie@example.ca"}, Exception("gone\nmore"))
    folded = record(db_error)
    assert OneLineFaults().filter(folded) and folded.exc_info is None
    assert folded.getMessage() == f"{FAILED_ATTEMPT}: OperationalError: gone"
    assert describe(db_error) == "OperationalError: gone"


def test_a_payload_the_codec_cannot_encode_for_an_outage_is_one_line() -> None:
    """Seen in CI: with the database cut, a new workflow's data key could not be read, and the
    SDK's workflow worker logged "Failed encoding completion" with three tracebacks. The worker
    installs the same filter on that logger."""
    import logging

    from sqlalchemy.exc import OperationalError

    quiet_expected_faults()
    logger = logging.getLogger(WORKFLOW_WORKER_LOGGER)
    try:
        raise OperationalError("SELECT 1", {}, Exception("connection failed: closed"))
    except OperationalError:
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "Failed encoding completion",
            (),
            sys.exc_info(),
        )
    assert logger.filter(record)
    assert record.exc_info is None
    assert record.getMessage() == (
        "Failed encoding completion: OperationalError: connection failed: closed"
    )
