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

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from temporalio.client import Client
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from core.languages import ENGLISH, LANGUAGES
from core.temporal import data_converter
from db.datakeys import DataKeys
from db.engine import UNREACHABLE, make_engine
from db.sessions import SessionReader, purge_sessions
from observe.health import Readiness
from observe.logs import configure_logging
from observe.metrics import temporal_runtime
from observe.tracing import provider_for, temporal_interceptors
from settings import Settings, get_settings
from web import cers, dev, gckey, partner, reset, sign_in
from web.audit import JourneyErased, erased_page
from web.audit import router as audit_router
from web.codec import add_codec
from web.deps import Services
from web.guards import GoTo, goto
from web.headers import SecurityHeaders
from web.journeys import Journeys
from web.limits import Limiter, LimitsUnavailable, TooManyAttempts
from web.links import index_routes
from web.logs import redact, redact_access_log
from web.observe import Operations, instrument
from web.pace import SignInPace
from web.pages import page_language, render
from web.resets import Resets
from web.routes import include
from web.session_middleware import ServerSessionMiddleware
from web.staff import add_staff_area
from web.temporal import JourneyClosed, StepRefused, TemporalUnavailable

log = logging.getLogger("cers.web")


def create_app(
    settings: Settings | None = None,
    client: Client | None = None,
    clock: Callable[[], float] = time.time,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The app; tests hand in their own settings, Temporal client, clock and tracer."""
    settings = settings or get_settings()
    redact_access_log()
    engine = make_engine(settings.sqlalchemy_url)
    # Every request reads its session; SQLite's read runs on the event loop, on a connection
    # of its own (db/sessions.py SessionReader).
    session_reader = SessionReader(engine) if engine.dialect.name == "sqlite" else None
    tracing = tracer_provider or provider_for(settings, "cers-web")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limiter = Limiter.for_settings(settings)
        # The SDK's metrics need a runtime of the site's own; without them the default serves.
        runtime = (
            temporal_runtime(settings) if settings.temporal_metrics_bind and not client else None
        )
        connected = client or await Client.connect(
            **settings.temporal_connection(),
            data_converter=data_converter(
                settings.payload_ring,
                DataKeys(engine, settings.payload_ring),
                accept_plaintext=settings.payload_accept_plaintext,
            ),
            interceptors=temporal_interceptors(tracing),
            runtime=runtime,
        )
        app.state.services = Services(
            settings=settings,
            engine=engine,
            client=connected,
            partner=partner.partner_client(settings),
            pace=SignInPace(),
            journeys=Journeys(connected, settings),
            resets=Resets(connected, settings),
            limiter=limiter,
            clock=clock,
            readiness=Readiness(settings, connected, engine),
        )
        await asyncio.to_thread(purge_stale_sessions, engine, settings)
        yield
        await limiter.close()
        if session_reader is not None:
            session_reader.close()
        engine.dispose()
        del connected, runtime  # the runtime's threads stop before the interpreter does

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        ServerSessionMiddleware,
        engine=engine,
        inline_reader=session_reader,
        idle_minutes=settings.session_idle_minutes,
        max_hours=settings.session_max_hours,
        cookie_days=settings.session_cookie_days,
        secure=settings.secure_cookies,
        unreachable=database_unreachable_page,
        clock=clock,
    )

    # An attacker's Host header never reaches url_for: links and redirects name this site.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts)
    app.add_middleware(SecurityHeaders, settings=settings)  # outermost: every response

    if settings.trusted_proxies:
        # Outermost, so every part of the app sees the client the trusted proxy names.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    # Outside even that: the request id is taken from the proxy that connected, not the client
    # it names; probes are answered before the host is checked (web/observe.py).
    app.add_middleware(Operations, settings=settings, router=app.router)
    if tracing:
        instrument(app, tracing)

    static = Path(__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    add_codec(app, settings.temporal_ui_origin)
    include(app, sign_in.router)
    include(app, gckey.router)
    include(app, gckey.continue_router)
    include(app, cers.router)
    include(app, audit_router)
    app.add_exception_handler(JourneyErased, erased_page)  # type: ignore[arg-type]
    add_staff_area(app)
    include(app, partner.router)
    include(app, reset.router)
    if settings.dev_mail_enabled:
        include(app, dev.router)

    @app.get("/", name="splash")
    async def splash(request: Request) -> Response:
        return render(request, "splash.html", lang=ENGLISH)

    @app.get("/favicon.ico", name="favicon", include_in_schema=False)
    async def favicon() -> Response:
        # Browsers ask for it at the root whatever the page says; every page links it too.
        return FileResponse(static / "favicon.ico", media_type="image/x-icon")

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

    @app.exception_handler(RequestValidationError)
    async def unreadable(request: Request, exc: RequestValidationError) -> Response:
        # A form field that cannot be read as its type (a number that is not one): the 400
        # page in the page's language, not FastAPI's JSON.
        return render(
            request, "error.html", lang=page_language(request), status_code=400, status=400
        )

    @app.exception_handler(StepRefused)
    @app.exception_handler(JourneyClosed)
    async def out_of_step(request: Request, exc: Exception) -> Response:
        # Another tab moved the journey on, or it ended: show where it stands now.
        return goto(request, page_language(request), "resume")

    @app.exception_handler(GoTo)
    async def go_to(request: Request, exc: GoTo) -> Response:
        return goto(request, page_language(request), exc.page)

    @app.exception_handler(TooManyAttempts)
    async def too_many(request: Request, exc: TooManyAttempts) -> Response:
        lang = page_language(request)
        response = render(
            request,
            "too_many.html",
            lang=lang,
            status_code=429,
            retry_at=datetime.now(UTC) + timedelta(seconds=exc.retry_after),
            staff_area=request.url.path.startswith(f"/{lang}/staff/"),
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(TemporalUnavailable)
    @app.exception_handler(LimitsUnavailable)
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def unavailable(request: Request, exc: Exception) -> Response:
        what = (
            "the rate limit store"
            if isinstance(exc, LimitsUnavailable)
            else "the database"
            if isinstance(exc, UNREACHABLE)
            else "Temporal"
        )
        log.warning("%s did not answer in time on %s", what, redact(request.url.path))
        return render(
            request,
            "error.html",
            lang=page_language(request),
            status_code=503,
            status=503,
        )

    index_routes(app)  # last: every route is in by now
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


async def database_unreachable_page(scope: Scope, receive: Receive, send: Send) -> None:
    """The "something went wrong, nothing you entered is lost" page, in the page's language,
    for the session middleware to answer with when the database does not."""
    request = Request(scope, receive)
    page = render(request, "error.html", lang=page_language(request), status_code=503, status=503)
    await page(scope, receive, send)


@cache
def app_from_environment() -> FastAPI:
    configure_logging(get_settings())
    return create_app()


def __getattr__(name: str) -> FastAPI:
    # `uvicorn web.app:app` builds the app from the environment only when asked, and once.
    if name == "app":
        return app_from_environment()
    raise AttributeError(name)
