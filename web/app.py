"""The CERS site: a thin FastAPI + Jinja2 layer whose forms drive the onboarding workflow."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from temporalio.client import Client

from core.languages import ENGLISH, LANGUAGES
from db.engine import make_engine
from db.sessions import purge_sessions
from settings import Settings, get_settings
from web import cers, dev, gckey, partner, reset, sign_in
from web.audit import router as audit_router
from web.deps import Services
from web.guards import GoTo, goto
from web.journeys import Journeys
from web.pace import SignInPace
from web.pages import page_language, render
from web.resets import Resets
from web.session_middleware import ServerSessionMiddleware
from web.staff import add_staff_area
from web.temporal import JourneyClosed, StepRefused, TemporalUnavailable

log = logging.getLogger("cers.web")


def create_app(
    settings: Settings | None = None,
    client: Client | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The app; tests hand in their own settings, Temporal client and clock."""
    settings = settings or get_settings()
    engine = make_engine(settings.sqlalchemy_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connected = client or await Client.connect(
            settings.temporal_address or "127.0.0.1:7233", namespace=settings.temporal_namespace
        )
        app.state.services = Services(
            settings=settings,
            engine=engine,
            client=connected,
            partner=partner.partner_client(settings),
            pace=SignInPace(),
            journeys=Journeys(connected, settings),
            resets=Resets(connected, settings),
            clock=clock,
        )
        await asyncio.to_thread(purge_stale_sessions, engine, settings)
        yield
        engine.dispose()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        ServerSessionMiddleware,
        engine=engine,
        idle_minutes=settings.session_idle_minutes,
        max_hours=settings.session_max_hours,
        cookie_days=settings.session_cookie_days,
        secure=settings.secure_cookies,
        clock=clock,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Confirmation links carry a token in the path: never hand it on as a Referer.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path.startswith(tuple(f"/{lang}/" for lang in LANGUAGES)):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(sign_in.router)
    app.include_router(gckey.router)
    app.include_router(cers.router)
    app.include_router(audit_router)
    add_staff_area(app)
    app.include_router(partner.router)
    app.include_router(reset.router)
    if settings.dev_mail_enabled:
        app.include_router(dev.router)

    @app.get("/", name="splash")
    async def splash(request: Request) -> Response:
        return render(request, "splash.html", lang=ENGLISH)

    @app.get("/{lang}", name="home")
    async def home(request: Request, lang: str) -> Response:
        if lang not in LANGUAGES:
            raise StarletteHTTPException(404)
        return RedirectResponse(request.url_for("login", lang=lang), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return render(
            request,
            "error.html",
            lang=page_language(request),
            status_code=exc.status_code,
            status=exc.status_code,
        )

    @app.exception_handler(StepRefused)
    @app.exception_handler(JourneyClosed)
    async def out_of_step(request: Request, exc: Exception) -> Response:
        # Another tab moved the journey on, or it ended: show where it stands now.
        return goto(request, page_language(request), "resume")

    @app.exception_handler(GoTo)
    async def go_to(request: Request, exc: GoTo) -> Response:
        return goto(request, page_language(request), exc.page)

    @app.exception_handler(TemporalUnavailable)
    async def unavailable(request: Request, exc: TemporalUnavailable) -> Response:
        log.warning("Temporal did not answer in time on %s", request.url.path)
        return render(
            request,
            "error.html",
            lang=page_language(request),
            status_code=503,
            status=503,
        )

    return app


def purge_stale_sessions(engine: Engine, settings: Settings) -> None:
    """Sessions whose cookie has expired by now are dropped at start."""
    unused_since = datetime.now(UTC) - timedelta(days=settings.session_cookie_days)
    try:
        purged = purge_sessions(engine, unused_since)
    except SQLAlchemyError as err:  # the worker migrates the database; it may not have yet
        log.warning("stale sessions not purged: %s", type(err).__name__)
        return
    log.info("purged %d stale sessions", purged)


@cache
def app_from_environment() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> FastAPI:
    # `uvicorn web.app:app` builds the app from the environment only when asked, and once.
    if name == "app":
        return app_from_environment()
    raise AttributeError(name)
