"""Server-side sessions: load, save and end them (see web/session.py for what they hold)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, delete
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from db.models import WebSession


def id_hash(session_id: str) -> str:
    """The key a session is filed under: the cookie's id itself is never stored."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def load_session(engine: Engine, session_id: str) -> WebSession | None:
    with Session(engine) as session:
        return session.get(WebSession, id_hash(session_id))


@dataclass(frozen=True)
class StoredSession:
    """What a request needs of its session's row."""

    data: str
    created_at: datetime
    seen_at: datetime


_TABLE = WebSession.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
_READ = select(_TABLE.c.data, _TABLE.c.created_at, _TABLE.c.seen_at).where(
    _TABLE.c.id_hash == bindparam("id_hash")
)


def read_session(engine: Engine, session_id: str) -> StoredSession | None:
    """The row of every request, in one statement compiled once: no ORM session, no identity
    map, no object built and thrown away (a third of what load_session costs)."""
    with engine.connect() as connection:
        row = connection.execute(_READ, {"id_hash": id_hash(session_id)}).first()
    return StoredSession(row.data, row.created_at, row.seen_at) if row else None


class SessionReader:
    """``read_session`` for a database in this process (SQLite), on one connection of its own
    and from one thread (the event loop's). The statement is compiled once and run on the
    driver's cursor; its columns go through SQLAlchemy's own type processors. The execute
    path, pool checkout and result objects around it cost two thirds of a read through
    ``engine.connect()``, against SQLite's own ~20 µs. Each read sees every committed write:
    a SELECT opens no transaction in Python's sqlite3. An error from the driver is raised as
    SQLAlchemy raises it (``OperationalError``...), and the connection is opened afresh on
    the next read."""

    def __init__(self, engine: Engine) -> None:
        compiled = _READ.compile(dialect=engine.dialect)
        if compiled.positiontup != ["id_hash"]:
            raise ValueError(f"{engine.dialect.name} does not take the read's parameter by place")
        self._engine = engine
        self._sql = str(compiled)
        self._processors: list[Callable[[Any], Any]] = [
            column.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
            or _as_is
            for column in _READ.selected_columns
        ]
        self._connection: Any = None

    def __call__(self, session_id: str) -> StoredSession | None:
        key = (id_hash(session_id),)
        try:
            if self._connection is None:
                pooled = self._engine.raw_connection()
                pooled.detach()  # the reader's own from now on, out of the pool's count
                self._connection = pooled.dbapi_connection
            row = self._connection.execute(self._sql, key).fetchone()
        except self._engine.dialect.loaded_dbapi.Error as err:
            self.close()
            raise DBAPIError.instance(
                self._sql, key, err, self._engine.dialect.loaded_dbapi.Error
            ) from err
        if row is None:
            return None
        data, created_at, seen_at = row
        as_data, as_created, as_seen = self._processors
        return StoredSession(as_data(data), as_created(created_at), as_seen(seen_at))

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _as_is(value: Any) -> Any:
    return value


def save_session(engine: Engine, session_id: str, row: WebSession) -> None:
    """Writes the row under the id (a new id makes a new row)."""
    row.id_hash = id_hash(session_id)
    with Session(engine) as session:
        session.merge(row)
        session.commit()


def end_session(engine: Engine, session_id: str) -> None:
    with Session(engine) as session:
        session.exec(delete(WebSession).where(col(WebSession.id_hash) == id_hash(session_id)))
        session.commit()


def end_journey_sessions(engine: Engine, journey_id: str) -> int:
    """Ends every session that names the journey (signed in with its GCKey, or filling it in)."""
    with Session(engine) as session:
        result = session.exec(delete(WebSession).where(col(WebSession.journey_id) == journey_id))
        session.commit()
        return int(result.rowcount or 0)


def mark_views_stale(engine: Engine, journey_id: str) -> int:
    """Every session of the journey forgets that it knew where the journey stands (its
    "view", web/guards.py): something other than its own steps moved it."""
    marked = 0
    with Session(engine) as session:
        rows = session.exec(select(WebSession).where(col(WebSession.journey_id) == journey_id))
        for row in rows.all():
            data = json.loads(row.data)
            view = data.get("view")
            if isinstance(view, dict) and not view.get("stale"):
                view["stale"] = True
                row.data = json.dumps(data, sort_keys=True)
                session.add(row)
                marked += 1
        session.commit()
    return marked


def end_staff_sessions(engine: Engine, staff_id: int) -> int:
    with Session(engine) as session:
        result = session.exec(delete(WebSession).where(col(WebSession.staff_id) == staff_id))
        session.commit()
        return int(result.rowcount or 0)


def purge_sessions(engine: Engine, unused_since: datetime) -> int:
    """Drops the sessions nobody has used since then (the cookie has expired by now)."""
    with Session(engine) as session:
        result = session.exec(delete(WebSession).where(col(WebSession.seen_at) < unused_since))
        session.commit()
        return int(result.rowcount or 0)
