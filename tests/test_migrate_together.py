"""Several processes migrating one PostgreSQL database at once (workers scaled out with
MIGRATE_ON_START left on, or two migrate jobs): one applies the migrations, the others wait
for it and find nothing left to do; none fails on a table another just made."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import POSTGRES_DSN, postgres_schema
from tests.process_helpers import ROOT

pytestmark = pytest.mark.postgres
PROCESSES = 4


@pytest.fixture
def empty_schema() -> Iterator[tuple[str, str]]:
    with postgres_schema() as made:
        yield made


def test_processes_migrating_together_all_succeed(empty_schema: tuple[str, str]) -> None:
    url, schema = empty_schema
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "development"}
    # Separate processes, started together, as replicas are: `python -m db migrate` each.
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "db", "migrate"],
            cwd=ROOT,
            env={**env, "DATA_DIR": f"/tmp/cers-migrate-{uuid.uuid4().hex}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    said = [process.communicate(timeout=120)[0] for process in running]
    assert [p.returncode for p in running] == [0] * PROCESSES, "\n".join(said)
    with psycopg.connect(POSTGRES_DSN) as conn:
        versions = conn.execute(f'SELECT version_num FROM "{schema}".alembic_version').fetchall()
    assert len(versions) == 1
