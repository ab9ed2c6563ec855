"""The compose stack's container commands, run as they are written there but on this machine:
the migrate job, `python worker.py` and the site under uvicorn, with the environment compose
gives them, against the local PostgreSQL (a database of this test's own), the local Redis and
the Temporal dev server. A person then signs up over HTTP and gets the confirmation e-mail:
the worker, the site, the database and the mail all did their part."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import psycopg
import pytest
from temporalio.client import Client

from core.crypto import KeyRing
from db.engine import make_engine
from devstack.servers import free_port
from tests.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    MailCatcher,
    postgres_reachable,
    redis_reachable,
    text_of,
)
from tests.process_helpers import ROOT, started
from tests.test_compose import env_example, interpolated, services
from tests.web_helpers import Browser, create_user_account, routes_app, sign_up

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def require(reason: str | None, variable: str) -> None:
    if reason and os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {reason}")
    if reason:
        pytest.skip(reason)


@pytest.fixture
def database() -> Iterator[str]:
    """A database of this test's own on the local PostgreSQL, as compose's DATABASE_URL
    names one (postgresql://, which the settings read through psycopg)."""
    require(postgres_reachable(), "REQUIRE_POSTGRES")
    name = f"cers_stack_{uuid.uuid4().hex[:12]}"
    server = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def command(service: str, port: int = 0) -> list[str]:
    """The service's command from docker-compose.yml: this interpreter for the image's python,
    and, for the site, this machine's loopback and a free port for 0.0.0.0:8000."""
    words = [sys.executable if w == "python" else str(w) for w in services()[service]["command"]]
    replaced = {"0.0.0.0": "127.0.0.1", "8000": str(port)}
    return [replaced.get(w, w) if service == "web" else w for w in words]


async def test_the_compose_commands_serve_a_sign_up(
    client: Client, smtp: MailCatcher, database: str, tmp_path: Path
) -> None:
    require(redis_reachable(), "REQUIRE_REDIS")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secrets = {key: f"{key.lower()}-{uuid.uuid4().hex}{uuid.uuid4().hex}" for key in env_example()}
    secrets["PAYLOAD_KEYS"] = KeyRing.new_key_text("stack")
    # What compose gives the web service (the other two get a subset), pointed at this
    # machine's servers in place of the stack's host names.
    environment = {
        k: interpolated(str(v), secrets) for k, v in services()["web"]["environment"].items()
    }
    environment.update(
        {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "DATABASE_URL": database,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "RATE_LIMIT_STORAGE": REDIS_URL,
            "RATE_LIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
            "PUBLIC_URL": url,
            "PARTNER_ISSUER": "",  # the stand-in broker is not part of this test
            "TASK_QUEUE": f"tq-{uuid.uuid4()}",
            "DATA_DIR": str(tmp_path / "data"),
            # The worker's probe port: a free one, not compose's 8081 (the machine is shared).
            "WORKER_HEALTH_PORT": "0",
        }
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **environment}
    assert environment["ENVIRONMENT"] == "production" and environment["MIGRATE_ON_START"] == "false"

    migrated = subprocess.run(
        command("migrate"), cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert migrated.returncode == 0, migrated.stderr
    with psycopg.connect(database) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
    assert revision  # the schema is at a migration; the worker below does not apply any

    # Seven hex digits at most: eight random ones are all digits one time in 43, and GCKey
    # allows no more than 7 digits (the step then answered 400 and the test failed).
    username = f"stack{uuid.uuid4().hex[:7]}"
    email = f"{username}@example.ca"
    worker = started(command("worker"), env, tmp_path / "worker.log", b"worker polling")
    web = started(command("web", port), env, tmp_path / "web.log", b"startup complete")
    engine = make_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    async with worker, web, httpx2.AsyncClient(base_url=url, follow_redirects=True) as http:
        b = Browser(http, routes_app(), engine)
        page = await sign_up(b, "en", username)
        assert page.h1 == "Your GCKey has been issued"
        page = await b.submit(page, "issued")
        assert page.h1 == "Welcome to CERS"
        page = await create_user_account(b, "en", email)
        assert page.status == 200
        (message,) = await smtp.wait_for(email)
        assert f"{url}/en/confirm/" in text_of(message)
    engine.dispose()
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT issued_at FROM gckey WHERE username = %s", (username,))
        assert [issued is not None for (issued,) in rows.fetchall()] == [True]
