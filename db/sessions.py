"""Server-side sessions: load, save and end them (see web/session.py for what they hold)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from db.models import WebSession


def id_hash(session_id: str) -> str:
    """The key a session is filed under: the cookie's id itself is never stored."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def load_session(engine: Engine, session_id: str) -> WebSession | None:
    with Session(engine) as session:
        return session.get(WebSession, id_hash(session_id))


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
