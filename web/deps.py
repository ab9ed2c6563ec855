"""The site's typed dependencies: the one way a route reaches the settings, the database, the
Temporal gateways, the Sign-In Partner client, the rate limits and the page's language. Only
this module reads ``app.state``; the app sets it once, in its lifespan.

Each is ``async def`` though none awaits: FastAPI runs a plain ``def`` dependency in a worker
thread, a thread hop per dependency per request for what is an attribute read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from temporalio.client import Client

from core.languages import LANGUAGES
from observe.health import Readiness
from settings import Settings
from web.journeys import Journeys
from web.limits import Limiter
from web.pace import SignInPace
from web.resets import Resets


@dataclass
class Services:
    """What the app holds for its routes, made once per process."""

    settings: Settings
    engine: Engine
    client: Client
    partner: Any | None  # Authlib's registered OpenID Connect client; None: no partner
    pace: SignInPace
    journeys: Journeys
    resets: Resets
    limiter: Limiter
    clock: Callable[[], float]  # the time the session middleware counts idle windows in
    readiness: Readiness  # /readyz's looks at Temporal, the database and SMTP


def services(request: Request) -> Services:
    held: Services = request.app.state.services
    return held


async def get_settings(request: Request) -> Settings:
    return services(request).settings


async def get_engine(request: Request) -> Engine:
    return services(request).engine


async def get_journeys(request: Request) -> Journeys:
    return services(request).journeys


async def get_resets(request: Request) -> Resets:
    return services(request).resets


async def get_partner(request: Request) -> Any | None:
    return services(request).partner


async def get_pace(request: Request) -> SignInPace:
    return services(request).pace


async def get_limiter(request: Request) -> Limiter:
    return services(request).limiter


def now(request: Request) -> float:
    """The site's clock; called directly too (web/guards.py), so a plain function."""
    return services(request).clock()


async def now_dependency(request: Request) -> float:
    return now(request)


async def language(request: Request) -> str:
    """The path's language (every route that asks has ``{lang}`` in its path), or 404. Read
    from the path as the router matched it: a ``lang: str`` parameter would have FastAPI
    validate it through pydantic on every request, to learn that a path segment is text."""
    lang = request.path_params.get("lang")
    if not isinstance(lang, str) or lang not in LANGUAGES:
        raise HTTPException(404)
    return lang


AppSettings = Annotated[Settings, Depends(get_settings)]
DbEngine = Annotated[Engine, Depends(get_engine)]
JourneyService = Annotated[Journeys, Depends(get_journeys)]
ResetService = Annotated[Resets, Depends(get_resets)]
PartnerClient = Annotated[Any | None, Depends(get_partner)]
Pace = Annotated[SignInPace, Depends(get_pace)]
RateLimits = Annotated[Limiter, Depends(get_limiter)]
Lang = Annotated[str, Depends(language)]
Now = Annotated[float, Depends(now_dependency)]
