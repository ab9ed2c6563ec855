"""The worker's small HTTP port (WORKER_HEALTH_PORT, default 8081): /healthz (the process is
up), /readyz (Temporal, the database and SMTP reachable; 503 naming the one that is not) and
/metrics (the service's counters and the open journeys by step; with METRICS_TOKEN set, only
with it as a bearer token). No page, no session, nothing about anyone.

Served by uvicorn inside the worker's own event loop, on a socket bound here (so port 0 gives
a free port that can be told), without uvicorn's signal handlers: the worker's own decide
when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from temporalio.client import Client

from observe.health import Readiness, ready
from observe.open_journeys import OpenJourneys
from settings import Settings

log = logging.getLogger("cers.worker")


def probes_app(settings: Settings, client: Client, engine: Engine) -> Starlette:
    readiness = Readiness(settings, client, engine)
    open_journeys = OpenJourneys(client, settings)
    token = settings.metrics_token.get_secret_value().encode()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        report = await readiness.report()
        return JSONResponse(report, 200 if ready(report) else 503)

    async def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if token and not hmac.compare_digest(given, b"Bearer " + token):
            return PlainTextResponse("Unauthorized", 401)
        try:
            await open_journeys.refresh()
        except Exception as err:  # noqa: BLE001 - the other metrics are still worth serving
            log.warning("open journeys not counted: %s", type(err).__name__)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    return Starlette(routes=routes)


class Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the worker handles SIGTERM and SIGINT itself


@contextlib.asynccontextmanager
async def worker_probes(settings: Settings, client: Client, engine: Engine) -> AsyncIterator[int]:
    """The probe port served until the block ends; yields the port it listens on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.worker_health_host, settings.worker_health_port))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        probes_app(settings, client, engine),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    server = Quiet(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("worker probes on port %d", port)
    try:
        yield port
    finally:
        server.should_exit = True
        await serving
        sock.close()
