"""The session row each request reads on the event loop (db/sessions.py SessionReader) is
the row ``read_session`` reads through SQLAlchemy, sees every write made on another
connection at once, and fails as SQLAlchemy fails, so the site's "database did not answer"
page still catches it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from db.engine import UNREACHABLE, make_engine, migrate
from db.models import WebSession
from db.sessions import SessionReader, end_session, read_session, save_session


def saved(engine: object, session_id: str, data: str, seen: datetime) -> None:
    row = WebSession(
        id_hash="",
        data=data,
        journey_id=None,
        staff_id=None,
        created_at=seen - timedelta(minutes=3),
        seen_at=seen,
    )
    save_session(engine, session_id, row)  # type: ignore[arg-type]


def test_the_reader_reads_what_sqlalchemy_reads_and_every_later_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)
    engine = make_engine(url)
    reader = SessionReader(engine)
    seen = datetime(2026, 12, 1, 18, 30, 5, 123456, tzinfo=UTC)
    saved(engine, "first", '{"csrf": "a"}', seen)

    assert reader("first") == read_session(engine, "first")
    found = reader("first")
    assert found is not None
    assert found.data == '{"csrf": "a"}'
    assert found.seen_at.timestamp() == seen.timestamp()
    assert found.created_at.timestamp() == (seen - timedelta(minutes=3)).timestamp()
    assert reader("never issued") is None

    # Written and ended through the engine's own connections: seen on the next read.
    saved(engine, "first", '{"csrf": "b"}', seen + timedelta(seconds=40))
    assert reader("first") == read_session(engine, "first")
    assert reader("first").data == '{"csrf": "b"}'  # type: ignore[union-attr]
    end_session(engine, "first")
    assert reader("first") is None
    reader.close()
    engine.dispose()


def test_a_failing_read_raises_as_sqlalchemy_does_and_the_next_one_reconnects(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)
    engine = make_engine(url)
    reader = SessionReader(engine)
    saved(engine, "kept", "{}", datetime(2026, 12, 1, tzinfo=UTC))
    assert reader("kept") is not None
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE web_session RENAME TO web_session_away"))

    with pytest.raises(OperationalError) as failed:
        reader("kept")
    assert isinstance(failed.value, UNREACHABLE)  # the middleware's clear page catches it

    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE web_session_away RENAME TO web_session"))
    assert reader("kept") is not None
    reader.close()
    engine.dispose()
