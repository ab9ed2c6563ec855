"""GCKey Sign In: the password checked against its argon2id hash here, the verdict counted by
the journey (failures, locks, expiry)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response

from core.hashing import HASHER, verify_secret
from db.models import GCKey
from db.queries import issued_gckey
from observe.metrics import SIGN_INS
from settings import Settings
from web.deps import AppSettings, DbEngine, JourneyService, Lang, Pace, RateLimits
from web.guards import goto
from web.journeys import Journeys, workflow_id_for
from web.pace import SignInPace
from web.pages import render, signed_in_account
from web.session import SessionKey, check_csrf, sign_in
from web.temporal import JourneyClosed
from workflows import rules
from workflows.onboarding import OnboardingWorkflow
from workflows.types import RecordSignInInput, SignInOutcome

router = APIRouter(
    prefix="/{lang}/gckey", dependencies=[Depends(check_csrf), Depends(signed_in_account)]
)

# Verifying against this when the username is unknown makes both failures cost the same.
_DUMMY_HASH = HASHER.hash("not-a-password-of-anyone")
SIGN_IN_FAILED = rules.N_("The username or password you entered is incorrect.")


class SignInForm(BaseModel):
    username: str = ""
    password: str = ""


def check_credentials(engine: Engine, username: str, password: str) -> tuple[GCKey | None, bool]:
    """The issued GCKey named, and whether the password opens it. An unknown username costs
    the same argon2id check as a wrong password, so the answer's timing tells nothing."""
    gckey = issued_gckey(engine, username)
    hashed = gckey.password_hash if gckey and gckey.password_hash else _DUMMY_HASH
    return gckey, verify_secret(hashed, password) and gckey is not None


def sign_in_page(
    request: Request,
    lang: str,
    settings: Settings,
    username: str = "",
    errors: dict[str, list[str]] | None = None,
) -> Response:
    return render(
        request,
        "gckey/sign_in.html",
        lang=lang,
        status_code=400 if errors else 200,
        username=username,
        errors=errors or {},
        timed_out=bool(request.session.pop(SessionKey.TIMED_OUT, False)),
        settings=settings,
    )


@router.get("/sign-in", name="gckey_sign_in")
async def sign_in_form(request: Request, lang: Lang, settings: AppSettings) -> Response:
    return sign_in_page(request, lang, settings)


@router.post("/sign-in")
async def sign_in_submit(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    engine: DbEngine,
    pace: Pace,
    limiter: RateLimits,
    form: Annotated[SignInForm, Form()],
) -> Response:
    await limiter.hit(limiter.gckey_sign_in, request, limiter.account(form.username))
    gckey, matched = await asyncio.to_thread(
        check_credentials, engine, form.username, form.password
    )
    outcome = await record_sign_in(journeys, pace, gckey, matched)
    SIGN_INS.labels(outcome.value).inc()
    if outcome is SignInOutcome.SIGNED_IN and gckey is not None:
        sign_in(request, workflow_id_for(gckey.journey_id))
        return goto(request, lang, "cers_home")
    # A locked GCKey answers as a wrong password does, right password or not: a lock that
    # told who typed the right one would tell a guesser when they hit it. Its owner is told
    # by e-mail instead (workflows/access.py). Only someone who knows the password learns
    # that a GCKey has expired; to anyone else every failure reads the same.
    if matched and outcome is SignInOutcome.EXPIRED:
        return render(
            request, "gckey/expired.html", lang=lang, status_code=403, settings=journeys.settings
        )
    return sign_in_page(
        request, lang, journeys.settings, form.username, {"sign_in": [SIGN_IN_FAILED]}
    )


async def record_sign_in(
    journeys: Journeys, pace: SignInPace, gckey: GCKey | None, matched: bool
) -> SignInOutcome:
    """The journey counts failures and locks; the verdict comes back as an outcome."""
    if gckey is None:
        await pace.pad()
        return SignInOutcome.FAILED
    if gckey.expired_at is not None:
        await pace.pad()
        return SignInOutcome.EXPIRED
    started = asyncio.get_running_loop().time()
    try:
        result = await journeys.send(
            workflow_id_for(gckey.journey_id),
            OnboardingWorkflow.record_sign_in,
            RecordSignInInput(password_matched=matched),
        )
    except JourneyClosed:
        # A journey that closed at the portal before journeys stayed open keeps no count.
        return SignInOutcome.SIGNED_IN if matched else SignInOutcome.FAILED
    pace.record(asyncio.get_running_loop().time() - started)
    outcome: SignInOutcome = result.outcome
    return outcome
