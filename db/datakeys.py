"""Each workflow's own data key, in the application database, wrapped by the key ring.

Made on first use, race-safely: the site's update-with-start and the worker may both ask
for a new journey's key at once; the primary key lets one insert win and the other reads
the winner's. Kept unwrapped in process (a bounded LRU, each entry for ``ttl`` seconds), so
a payload costs no database round trip; a journey's first payload in a process, or the
first after ``ttl``, costs one. Erasure drops the key here at once; another process forgets
it within ``ttl`` (and erasure is only for closed journeys, which nothing is writing to).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.crypto import (
    KEY_BYTES,
    DataKeyErased,
    KeyRing,
    PayloadRefused,
    unwrap_data_key,
    wrap_data_key,
)
from db.models import JourneyDataKey

CACHE_SIZE = 10_000
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Erasure:
    """Who erased a workflow's personal information, when and why."""

    workflow_id: str
    at: datetime
    by: str
    reason: str


class DataKeys:
    """The ``DataKeyStore`` of core/crypto.py over the application database."""

    def __init__(
        self,
        engine: Engine,
        ring: KeyRing,
        *,
        size: int = CACHE_SIZE,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.ring = ring
        self.size = size
        self.ttl = ttl
        self._cache: OrderedDict[str, tuple[AESGCM, float]] = OrderedDict()
        self.lookups = 0  # database round trips, for the benchmark

    async def cipher_for(self, workflow_id: str, *, create: bool) -> AESGCM:
        cached = self._cache.get(workflow_id)
        if cached is not None and self.clock() - cached[1] < self.ttl:
            self._cache.move_to_end(workflow_id)
            return cached[0]
        key = await asyncio.to_thread(self._load, workflow_id, create)
        cipher = AESGCM(key)
        now = self.clock()
        self._cache[workflow_id] = (cipher, now)
        self._cache.move_to_end(workflow_id)
        self._drop_expired(now)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return cipher

    def _drop_expired(self, now: float) -> None:
        """Keys past their time go, from the least recently used: each holds ~2.5 KB of
        cipher state, so a worker that has seen 10,000 journeys an hour would otherwise keep
        25 MiB of keys it may never need again (a later use loads it afresh)."""
        while self._cache:
            _, (_, loaded) = next(iter(self._cache.items()))
            if now - loaded < self.ttl:
                return
            self._cache.popitem(last=False)

    def _load(self, workflow_id: str, create: bool) -> bytes:
        self.lookups += 1
        with Session(self.engine) as session:
            row = session.get(JourneyDataKey, workflow_id)
            if row is None and create:
                key = os.urandom(KEY_BYTES)
                ring_key_id, wrapped = wrap_data_key(self.ring, workflow_id, key)
                session.add(
                    JourneyDataKey(
                        workflow_id=workflow_id,
                        ring_key_id=ring_key_id,
                        wrapped=wrapped,
                        created_at=datetime.now(UTC),
                    )
                )
                try:
                    session.commit()
                    return key
                except IntegrityError:  # another process made it first: use theirs
                    session.rollback()
                    row = session.get(JourneyDataKey, workflow_id)
        if row is None:
            raise PayloadRefused("a payload's workflow has no data key here")
        if row.wrapped is None:
            raise DataKeyErased("this workflow's personal information was erased")
        return unwrap_data_key(self.ring, workflow_id, row.ring_key_id, row.wrapped)

    async def claim(self, workflow_id: str, journey_id: str) -> None:
        """A journey's other workflow (a Forgot your password? attempt) gets its data key
        before it starts, filed under the journey, so erasing the journey erases it too."""
        await asyncio.to_thread(self._claim, workflow_id, journey_id)

    def _claim(self, workflow_id: str, journey_id: str) -> None:
        self.lookups += 1
        key = os.urandom(KEY_BYTES)
        ring_key_id, wrapped = wrap_data_key(self.ring, workflow_id, key)
        with Session(self.engine) as session:
            session.add(
                JourneyDataKey(
                    workflow_id=workflow_id,
                    journey_id=journey_id,
                    ring_key_id=ring_key_id,
                    wrapped=wrapped,
                    created_at=datetime.now(UTC),
                )
            )
            session.commit()  # a new random id: nothing else can have made it
        self._cache[workflow_id] = (AESGCM(key), self.clock())

    def forget(self, workflow_ids: Iterable[str]) -> None:
        for workflow_id in workflow_ids:
            self._cache.pop(workflow_id, None)

    def erase(self, workflow_id: str, journey_id: str, by: str, reason: str) -> list[str]:
        """Destroys the data key of ``workflow_id`` (a journey's own) and of every workflow
        filed under ``journey_id``; the workflows whose key was destroyed. A journey with no
        key (begun before data keys, its payloads under the ring key) gets an erased row, so
        nothing can ever be sealed for it again, and is not in the list."""
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            related = session.exec(
                select(JourneyDataKey).where(col(JourneyDataKey.journey_id) == journey_id)
            )
            rows = [
                session.get(JourneyDataKey, workflow_id)
                or JourneyDataKey(
                    workflow_id=workflow_id, ring_key_id=self.ring.current, created_at=now
                ),
                *[row for row in related if row.workflow_id != workflow_id],
            ]
            erased = [row.workflow_id for row in rows if row.wrapped is not None]
            for row in rows:
                row.wrapped = None
                row.erased_at, row.erased_by, row.erase_reason = now, by, reason
                session.add(row)
            session.commit()
        self.forget(erased)
        return erased

    def erasure(self, workflow_id: str) -> Erasure | None:
        """Whether (and by whom, when, why) this workflow's personal information was erased."""
        with Session(self.engine) as session:
            row = session.get(JourneyDataKey, workflow_id)
        if row is None or row.erased_at is None:
            return None
        return Erasure(row.workflow_id, row.erased_at, row.erased_by, row.erase_reason)

    def rewrap(self) -> int:
        """Every live data key wrapped by the ring's current key, so an older ring key can be
        dropped once no payload under it is read. How many were rewrapped."""
        done = 0
        with Session(self.engine) as session:
            stale = select(JourneyDataKey).where(
                col(JourneyDataKey.wrapped).is_not(None),
                col(JourneyDataKey.ring_key_id) != self.ring.current,
            )
            for row in session.exec(stale):
                assert row.wrapped is not None
                key = unwrap_data_key(self.ring, row.workflow_id, row.ring_key_id, row.wrapped)
                row.ring_key_id, row.wrapped = wrap_data_key(self.ring, row.workflow_id, key)
                session.add(row)
                done += 1
            session.commit()
        return done


def erased_among(engine: Engine, workflow_ids: Iterable[str]) -> set[str]:
    ids = list(workflow_ids)
    if not ids:
        return set()
    with Session(engine) as session:
        rows = session.exec(
            select(JourneyDataKey.workflow_id).where(
                col(JourneyDataKey.workflow_id).in_(ids), col(JourneyDataKey.erased_at).is_not(None)
            )
        )
        return set(rows)
