"""Each workflow's data key in the application database (SQLite and PostgreSQL): made once
however many processes ask at the same moment, read from the process's cache after that,
refused once erased (in a process that had cached it, and in one that had not), and read
again by a rotated ring."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.api.common.v1 import Payload

from core.crypto import DataKeyErased, EncryptionCodec, KeyRing, PayloadRefused
from db.datakeys import DataKeys
from db.engine import make_engine

RING = KeyRing.parse(KeyRing.new_key_text("unit-a"))
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"given_name": "Marie"}')


def codec(keys: DataKeys, workflow_id: str) -> EncryptionCodec:
    return EncryptionCodec(keys.ring, workflow_id=workflow_id, keys=keys)


async def test_two_processes_asking_at_once_get_one_key_and_then_the_cache(
    database_url: str,
) -> None:
    engines = [make_engine(database_url) for _ in range(4)]
    try:
        stores = [DataKeys(engine, RING) for engine in engines]  # four processes
        workflow_id = f"onboarding-{uuid.uuid4()}"
        sealed = await asyncio.gather(*(codec(s, workflow_id).encode([PLAIN]) for s in stores))
        for store in stores:
            for (payload,) in sealed:
                assert await codec(store, workflow_id).decode([payload]) == [PLAIN]
        lookups = [s.lookups for s in stores]
        for _ in range(50):
            await codec(stores[0], workflow_id).decode(
                await codec(stores[0], workflow_id).encode([PLAIN])
            )
        assert [s.lookups for s in stores] == lookups  # the hot path asks no database
    finally:
        for engine in engines:
            engine.dispose()


async def test_an_erased_key_opens_nothing_here_or_elsewhere_and_seals_nothing_more(
    database_url: str,
) -> None:
    here, elsewhere = make_engine(database_url), make_engine(database_url)
    try:
        mine, theirs = DataKeys(here, RING), DataKeys(elsewhere, RING)
        workflow_id, other_id = f"onboarding-{uuid.uuid4()}", f"onboarding-{uuid.uuid4()}"
        (payload,) = await codec(mine, workflow_id).encode([PLAIN])
        (other,) = await codec(mine, other_id).encode([PLAIN])
        assert await codec(theirs, workflow_id).decode([payload]) == [PLAIN]  # now cached there
        reset_id = f"password-reset-{uuid.uuid4()}"
        await mine.claim(reset_id, workflow_id.removeprefix("onboarding-"))
        (reset_payload,) = await codec(mine, reset_id).encode([PLAIN])

        erased = mine.erase(workflow_id, workflow_id.removeprefix("onboarding-"), "ana", "asked")
        assert set(erased) == {workflow_id, reset_id}
        theirs.ttl = 0  # the other process's cache has run out
        for store in (mine, theirs, DataKeys(elsewhere, RING)):
            for sealed in (payload, reset_payload):
                with pytest.raises(DataKeyErased):
                    await EncryptionCodec(RING, keys=store).decode([sealed])
            with pytest.raises(DataKeyErased):
                await codec(store, workflow_id).encode([PLAIN])
            assert await EncryptionCodec(RING, keys=store).decode([other]) == [PLAIN]
        erasure = mine.erasure(workflow_id)
        assert erasure is not None and (erasure.by, erasure.reason) == ("ana", "asked")
        assert mine.erasure(other_id) is None
    finally:
        here.dispose()
        elsewhere.dispose()


async def test_a_rotated_ring_unwraps_old_keys_and_a_ring_without_it_does_not(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        workflow_id = f"onboarding-{uuid.uuid4()}"
        (payload,) = await codec(DataKeys(engine, RING), workflow_id).encode([PLAIN])
        rotated = KeyRing.parse(f"{KeyRing.new_key_text('unit-b')},{RING.text()}")
        assert await EncryptionCodec(rotated, keys=DataKeys(engine, rotated)).decode([payload]) == [
            PLAIN
        ]
        stranger = KeyRing.parse(KeyRing.new_key_text("unit-c"))
        with pytest.raises(PayloadRefused):
            await EncryptionCodec(stranger, keys=DataKeys(engine, stranger)).decode([payload])
        # A data-key payload and no store to find its key in: refused, never taken as plain.
        with pytest.raises(PayloadRefused):
            await EncryptionCodec(RING, accept_plaintext=True).decode([payload])
    finally:
        engine.dispose()


async def test_keys_past_their_time_leave_the_cache_when_another_is_loaded(
    database_url: str,
) -> None:
    """A worker that has seen many journeys keeps only the keys of the last minute: each
    holds cipher state, and 10,000 of them are 25 MiB of the worker's memory."""
    clock = [1000.0]
    engine = make_engine(database_url)
    try:
        store = DataKeys(engine, RING, ttl=60, clock=lambda: clock[0])
        old = [f"onboarding-{uuid.uuid4()}" for _ in range(3)]
        for workflow_id in old:
            await codec(store, workflow_id).encode([PLAIN])
        clock[0] += 30
        recent = f"onboarding-{uuid.uuid4()}"
        await codec(store, recent).encode([PLAIN])
        assert list(store._cache) == [*old, recent]
        clock[0] += 31  # the first three are past their minute, the last is not
        new = f"onboarding-{uuid.uuid4()}"
        sealed = await codec(store, new).encode([PLAIN])
        assert list(store._cache) == [recent, new]
        lookups = store.lookups
        assert await codec(store, new).decode(sealed) == [PLAIN]
        assert store.lookups == lookups  # what stays is still served without the database
    finally:
        engine.dispose()
