"""The Sign-In Partner: CERS as an OpenID Connect relying party of the credential broker.

Authlib does the protocol: the authorization code flow with PKCE (S256), state and nonce kept
in the session, and the id_token's signature (the provider's JWKS), issuer, audience, nonce
and expiry checked. CERS learns one thing: the provider's pairwise id for this service.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, Depends, HTTPException, Request
from joserfc.errors import JoseError
from sqlalchemy import Engine
from starlette.responses import Response

from core.languages import supported_language
from db.queries import partner_journey
from settings import Settings
from web.deps import DbEngine, JourneyService, Lang, PartnerClient, RateLimits
from web.guards import LOGIN_CHOICE_STEPS, goto, goto_step, of_browser, still_open
from web.journeys import Journeys, new_workflow_id, workflow_id_for
from web.pages import exporter_page, render
from web.session import SessionKey, held, sign_in, signed_in_journey
from web.temporal import StepRefused
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    PARTNER_LINKED,
    LinkPartnerInput,
    LoginMethod,
    RecordPartnerAttemptInput,
    Step,
)

log = logging.getLogger("cers.partner")
router = APIRouter(dependencies=[Depends(exporter_page)])


# What Authlib raises when the callback's state is not one this browser's session holds: a
# forged or reused state, or a session that no longer has it (Back button, another browser).
STATE_ERRORS = {"mismatching_state", "oauth_error", None, ""}


def partner_client(settings: Settings, transport: Any = None) -> Any | None:
    """The registered OpenID Connect client, or None when no Sign-In Partner is configured.
    A unit test may hand in an HTTP transport to play a misbehaving provider."""
    if not settings.partner_issuer:
        return None
    extra = {"transport": transport} if transport is not None else {}
    oauth = OAuth()
    return oauth.register(
        "partner",
        client_id=settings.partner_client_id,
        client_secret=settings.partner_client_secret.get_secret_value(),
        server_metadata_url=settings.partner_issuer.rstrip("/")
        + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid",
            "code_challenge_method": "S256",
            "timeout": settings.partner_timeout_seconds,
            **extra,
        },
    )


def problem(request: Request, lang: str, kind: str, status: int) -> Response:
    return render(request, "cers/partner_problem.html", lang=lang, kind=kind, status_code=status)


@router.post("/{lang}/login/sign-in-partner", name="choose_partner")
async def choose_partner(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    partner: PartnerClient,
    limiter: RateLimits,
) -> Response:
    """The browser goes to the Sign-In Partner; nothing starts until it answers with an
    identity this service does not know (``arrive``), so a returning partner user or one who
    cancels at the bank leaves no journey behind. A browser whose journey is past the login
    choice goes back to its step. Someone already signed in keeps their journey: what comes
    back is checked against it."""
    if not signed_in_journey(request):
        # Counted at the click, as Sign Up is: each click may end in a new journey.
        await limiter.hit(limiter.sign_up, request)
        current = still_open(await of_browser(request, journeys))
        if current is not None and current.state.step not in LOGIN_CHOICE_STEPS:
            return goto_step(request, lang, current.state.step)
    if partner is None:
        return goto(request, lang, "partner")
    request.session[SessionKey.PARTNER_LANG] = lang
    try:
        response: Response = await partner.authorize_redirect(
            request, str(request.url_for("partner_callback")), ui_locales=lang
        )
    except (httpx2.HTTPError, OAuthError, ValueError) as err:
        log.warning("Sign-In Partner unavailable: %r", err)
        return problem(request, lang, "unavailable", 503)
    return response


@router.get("/{lang}/sign-in-partner", name="partner")
async def partner_page(request: Request, lang: Lang, partner: PartnerClient) -> Response:
    """Where a journey at the Sign-In Partner step stands when no partner is configured."""
    return render(request, "cers/partner.html", lang=lang, configured=partner is not None)


@router.get("/partner/callback", name="partner_callback")
async def partner_callback(
    request: Request, journeys: JourneyService, engine: DbEngine, partner: PartnerClient
) -> Response:
    lang = supported_language(held(request, SessionKey.PARTNER_LANG))
    if partner is None:
        raise HTTPException(404)
    try:
        token = await partner.authorize_access_token(request)
    except OAuthError as err:
        # The error code only: its description is the provider's free text, which may echo
        # what it was sent.
        log.info("Sign-In Partner answered %s", err.error)
        if err.error == "access_denied":
            return problem(request, lang, "cancelled", 400)
        if err.error in STATE_ERRORS:
            return problem(request, lang, "state", 400)
        return problem(request, lang, "refused", 400)
    except (JoseError, ValueError) as err:
        log.warning("Sign-In Partner id_token refused: %r", err)
        return problem(request, lang, "refused", 400)
    except httpx2.HTTPError as err:
        log.warning("Sign-In Partner unreachable: %r", err)
        return problem(request, lang, "unavailable", 503)
    claims = token.get("userinfo") or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return problem(request, lang, "refused", 400)
    issuer = str(partner.server_metadata["issuer"])
    return await arrive(request, lang, journeys, engine, issuer, subject)


async def arrive(
    request: Request, lang: str, journeys: Journeys, engine: Engine, issuer: str, subject: str
) -> Response:
    """A known pairwise id opens its journey; an unknown one starts a journey, unless someone
    signed in came back with it: they are not merged, and the attempt is kept."""
    known = await asyncio.to_thread(partner_journey, engine, issuer, subject)
    if known:
        sign_in(request, workflow_id_for(known))
        return goto(request, lang, "cers_home")
    signed = signed_in_journey(request)
    if signed:
        attempt = await journeys.send(
            signed, OnboardingWorkflow.record_partner_attempt, RecordPartnerAttemptInput(issuer)
        )
        return render(
            request,
            "cers/partner_default.html",
            lang=lang,
            status_code=409,
            default_access=attempt.default_access.value,
        )
    # A new identity: the journey starts here (or the browser's, still at its login choice,
    # takes the Sign-In Partner).
    current = await of_browser(request, journeys)
    at_choice = current is not None and current.state.step in LOGIN_CHOICE_STEPS
    workflow_id = current.workflow_id if current and at_choice else new_workflow_id()
    step = (await journeys.begin(workflow_id, LoginMethod.SIGN_IN_PARTNER, lang)).step
    if step is not Step.PARTNER_SIGN_IN:  # it moved on in another tab meanwhile
        workflow_id = new_workflow_id()
        await journeys.begin(workflow_id, LoginMethod.SIGN_IN_PARTNER, lang)
    request.session[SessionKey.JOURNEY] = workflow_id
    try:
        await journeys.send(
            workflow_id, OnboardingWorkflow.link_partner, LinkPartnerInput(issuer, subject)
        )
    except StepRefused as refused:
        if refused.kind != PARTNER_LINKED:
            raise
        # A second tab linked the same id a moment ago: that journey is the one.
        known = await asyncio.to_thread(partner_journey, engine, issuer, subject)
        workflow_id = workflow_id_for(known or "")
    sign_in(request, workflow_id)
    return goto(request, lang, "cers_home")
