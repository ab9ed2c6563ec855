"""GCKey Sign In: the password checked against its argon2id hash here, the verdict counted by
the lock rules in the application database (db/sign_ins.py: failures, locks, expiry), and the
journey told after."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response

from core.hashing import HASHER, verify_secret
from db import sign_ins
from db.models import GCKey
from db.queries import issued_gckey
from observe.metrics import SIGN_INS
from settings import Settings
from web.deps import AppSettings, DbEngine, JourneyService, Lang, Pace, RateLimits
from web.guards import goto
from web.journeys import Journeys, workflow_id_for
from web.pace import SignInPace
from web.pages import exporter_page, render
from web.session import SessionKey, sign_in
from web.temporal import JourneyClosed
from workflows import rules
from workflows.types import SignInDecidedInput, SignInOutcome

router = APIRouter(prefix="/{lang}/gckey", dependencies=[Depends(exporter_page)])

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
    outcome = await record_sign_in(journeys, engine, pace, gckey, matched)
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


def lock_rules(settings: Settings) -> sign_ins.LockRules:
    """The journey's own figures (workflows/inputs.py), from the same settings."""
    return sign_ins.LockRules(
        lock_after_failures=settings.lock_after_failures,
        lock_for=timedelta(seconds=round(settings.lock_minutes * 60)),
        expire_after=timedelta(seconds=round(settings.gckey_expire_after_days * 86400)),
    )


async def record_sign_in(
    journeys: Journeys, engine: Engine, pace: SignInPace, gckey: GCKey | None, matched: bool
) -> SignInOutcome:
    """Counted by the lock rules in the database, then told to the journey: a signal, which
    Temporal takes without waiting for the worker, so a journey long out of the worker's
    cache costs what a cached one does."""
    if gckey is None:
        await pace.pad()
        return SignInOutcome.FAILED
    if gckey.expired_at is not None:
        await pace.pad()
        return SignInOutcome.EXPIRED
    started = asyncio.get_running_loop().time()
    workflow_id = workflow_id_for(gckey.journey_id)
    figures = lock_rules(journeys.settings)
    decided = await asyncio.to_thread(
        sign_ins.record_sign_in, engine, gckey, matched, datetime.now(UTC), figures
    )
    if decided is None:
        # Issued before sign-ins were counted here: once, the count the journey kept.
        state = await journeys.state(workflow_id)
        await asyncio.to_thread(sign_ins.seed_from_journey, engine, gckey, state, datetime.now(UTC))
        decided = await asyncio.to_thread(
            sign_ins.record_sign_in, engine, gckey, matched, datetime.now(UTC), figures
        )
        if decided is None:
            raise RuntimeError("the sign-in count just seeded is gone")
    if decided.news is not None:
        await tell(journeys, workflow_id, decided.news)
    pace.record(asyncio.get_running_loop().time() - started)
    return decided.outcome


async def tell(journeys: Journeys, workflow_id: str, news: SignInDecidedInput) -> None:
    try:
        await journeys.tell_sign_in(workflow_id, news)
    except JourneyClosed:
        pass  # a journey that closed at the portal before journeys stayed open keeps no record
