"""GCKey: sign in, and Sign Up in five steps (terms, username, password, recovery, e-mail)."""

from __future__ import annotations

import asyncio
import statistics
from collections import deque
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response

from db.models import GCKey
from db.queries import issued_gckey
from web.journeys import (
    AppSettings,
    AtStep,
    Issued,
    JourneyClosed,
    Journeys,
    JourneyService,
    PostedJourney,
    Rejected,
    at_step,
    goto,
    goto_step,
    workflow_id_for,
)
from web.pages import language, render, signed_in_account
from web.session import check_csrf, sign_in
from workflows import rules
from workflows.hashing import HASHER, hash_answers, hash_password, verify_secret
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    AnswerTermsInput,
    ChooseUsernameInput,
    LoginMethod,
    RecordSignInInput,
    RecoveryAnswer,
    SetPasswordInput,
    SetRecoveryAnswersInput,
    SetRecoveryEmailInput,
    SignInOutcome,
    Step,
)

router = APIRouter(
    prefix="/{lang}/gckey", dependencies=[Depends(check_csrf), Depends(signed_in_account)]
)
Lang = Annotated[str, Depends(language)]

# Verifying against this when the username is unknown makes both failures cost the same.
_DUMMY_HASH = HASHER.hash("not-a-password-of-anyone")
SIGN_IN_FAILED = rules.N_("The username or password you entered is incorrect.")


class SignInForm(BaseModel):
    username: str = ""
    password: str = ""


class TermsForm(BaseModel):
    decision: str = ""
    terms_version: str = ""


class UsernameForm(BaseModel):
    username: str = ""


class PasswordForm(BaseModel):
    password: str = ""
    confirmation: str = ""


class RecoveryForm(BaseModel):
    question: list[str] = []
    answer: list[str] = []
    hint: list[str] = []


class RecoveryEmailForm(BaseModel):
    email: str = ""


def check_credentials(engine: Engine, username: str, password: str) -> tuple[GCKey | None, bool]:
    """The issued GCKey named, and whether the password opens it. An unknown username costs
    the same argon2id check as a wrong password, so the answer's timing tells nothing."""
    gckey = issued_gckey(engine, username)
    hashed = gckey.password_hash if gckey and gckey.password_hash else _DUMMY_HASH
    return gckey, verify_secret(hashed, password) and gckey is not None


class SignInPace:
    """A known username's verdict costs a Temporal round trip that an unknown one doesn't
    make; the unknown one waits about as long, so the two can't be told apart by time."""

    def __init__(self) -> None:
        self._recent: deque[float] = deque([0.01], maxlen=50)

    def record(self, seconds: float) -> None:
        self._recent.append(seconds)

    async def pad(self) -> None:
        await asyncio.sleep(statistics.median(self._recent))


def sign_in_page(
    request: Request, lang: str, username: str = "", errors: dict[str, list[str]] | None = None
) -> Response:
    return render(
        request,
        "gckey/sign_in.html",
        lang=lang,
        status_code=400 if errors else 200,
        username=username,
        errors=errors or {},
        timed_out=bool(request.session.pop("timed_out", False)),
        settings=request.app.state.settings,
    )


@router.get("/sign-in", name="gckey_sign_in")
async def sign_in_form(request: Request, lang: Lang) -> Response:
    return sign_in_page(request, lang)


@router.post("/sign-in")
async def sign_in_submit(
    request: Request, lang: Lang, journeys: JourneyService, form: Annotated[SignInForm, Form()]
) -> Response:
    gckey, matched = await asyncio.to_thread(
        check_credentials, request.app.state.engine, form.username, form.password
    )
    pace: SignInPace = request.app.state.sign_in_pace
    outcome = await record_sign_in(journeys, pace, gckey, matched)
    if outcome is SignInOutcome.SIGNED_IN and gckey is not None:
        sign_in(request, workflow_id_for(gckey.journey_id))
        return goto(request, lang, "cers_home")
    # Only someone who knows the password learns that the GCKey is locked or expired; to
    # anyone else every failure reads the same.
    if matched and outcome is SignInOutcome.LOCKED:
        return render(
            request, "gckey/locked.html", lang=lang, status_code=403, settings=journeys.settings
        )
    if matched and outcome is SignInOutcome.EXPIRED:
        return render(
            request, "gckey/expired.html", lang=lang, status_code=403, settings=journeys.settings
        )
    return sign_in_page(request, lang, form.username, {"sign_in": [SIGN_IN_FAILED]})


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


@router.post("/sign-up", name="sign_up")
async def sign_up(request: Request, lang: Lang, journeys: JourneyService) -> Response:
    step = await journeys.choose_login(request, LoginMethod.GCKEY, lang)
    return goto_step(request, lang, step)


AtTerms = Annotated[AtStep, Depends(at_step(Step.TERMS))]
AtUsername = Annotated[AtStep, Depends(at_step(Step.USERNAME))]
AtPassword = Annotated[AtStep, Depends(at_step(Step.PASSWORD))]
AtRecoveryAnswers = Annotated[AtStep, Depends(at_step(Step.RECOVERY_ANSWERS))]
AtRecoveryEmail = Annotated[AtStep, Depends(at_step(Step.RECOVERY_EMAIL))]


@router.get("/terms", name="terms")
async def terms_page(request: Request, lang: Lang, settings: AppSettings, _: AtTerms) -> Response:
    return render(request, "gckey/terms.html", lang=lang, terms_version=settings.terms_version)


@router.post("/terms")
async def terms_submit(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    workflow_id: PostedJourney,
    form: Annotated[TermsForm, Form()],
) -> Response:
    result = await journeys.send(
        workflow_id,
        OnboardingWorkflow.answer_terms,
        AnswerTermsInput(
            accepted=form.decision == "accept", terms_version=form.terms_version, language=lang
        ),
    )
    if isinstance(result, Rejected):
        return render(
            request,
            "gckey/terms.html",
            lang=lang,
            status_code=400,
            terms_version=request.app.state.settings.terms_version,
            errors=result.errors,
        )
    if result.step is Step.DECLINED:
        request.session.pop("journey", None)
    return goto_step(request, lang, result.step)


@router.get("/declined", name="declined")
async def declined_page(request: Request, lang: Lang) -> Response:
    return render(request, "gckey/declined.html", lang=lang)


@router.get("/username", name="username")
async def username_page(request: Request, lang: Lang, at: AtUsername) -> Response:
    return render(
        request,
        "gckey/username.html",
        lang=lang,
        username=at.state.username,
        checks=rules.username_checks(at.state.username),
        evaluated=False,
        errors={},
    )


@router.post("/username")
async def username_submit(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    workflow_id: PostedJourney,
    form: Annotated[UsernameForm, Form()],
) -> Response:
    result = await journeys.send(
        workflow_id,
        OnboardingWorkflow.choose_username,
        ChooseUsernameInput(rules.normalize_username(form.username)),
    )
    if isinstance(result, Rejected):
        return render(
            request,
            "gckey/username.html",
            lang=lang,
            status_code=400,
            username=form.username,
            checks=rules.username_checks(form.username),
            evaluated=True,
            errors=result.errors,
        )
    return goto_step(request, lang, result.step)


@router.get("/password", name="password")
async def password_page(request: Request, lang: Lang, at: AtPassword) -> Response:
    checks = rules.password_checks("", at.state.username, "")
    return render(
        request,
        "gckey/password.html",
        lang=lang,
        checks=checks,
        evaluated=False,
        errors={},
        username=at.state.username,
    )


@router.post("/password")
async def password_submit(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    at: AtPassword,
    form: Annotated[PasswordForm, Form()],
) -> Response:
    workflow_id, state = at.workflow_id, at.state
    checks, errors = password_problems(form, state.username)
    if not errors:
        result = await journeys.send(
            workflow_id,
            OnboardingWorkflow.set_password,
            SetPasswordInput(await hash_password(form.password)),
        )
        if not isinstance(result, Rejected):
            return goto_step(request, lang, result.step)
        errors = result.errors
    return render(
        request,
        "gckey/password.html",
        lang=lang,
        status_code=400,
        checks=checks,
        evaluated=True,
        errors=errors,
        username=state.username,
    )


def password_problems(
    form: PasswordForm, username: str
) -> tuple[list[rules.Check], dict[str, list[str]]]:
    """The rules need the plaintext, which no workflow ever sees: they are checked here."""
    checks = rules.password_checks(form.password, username, form.confirmation)
    errors: dict[str, list[str]] = {}
    if problems := [c.message for c in checks if not c.ok and c.code != "match"]:
        errors["password"] = problems
    if not errors and not next(c for c in checks if c.code == "match").ok:
        errors["confirmation"] = [rules.N_("The two passwords must match")]
    return checks, errors


def recovery_context(settings: AppSettings, form: RecoveryForm | None) -> dict[str, Any]:
    count = settings.recovery_question_count
    chosen = (form.question if form else []) + [""] * count
    hints = (form.hint if form else []) + [""] * count
    return {
        "count": count,
        "questions": rules.RECOVERY_QUESTIONS,
        "chosen": chosen[:count],
        "hints": hints[:count],
        "min_answer": settings.recovery_answer_min_length,
    }


@router.get("/recovery", name="recovery")
async def recovery_page(
    request: Request, lang: Lang, settings: AppSettings, _: AtRecoveryAnswers
) -> Response:
    return render(
        request, "gckey/recovery.html", lang=lang, errors={}, **recovery_context(settings, None)
    )


@router.post("/recovery")
async def recovery_submit(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    workflow_id: PostedJourney,
    settings: AppSettings,
    form: Annotated[RecoveryForm, Form()],
) -> Response:
    count = settings.recovery_question_count
    entries = [
        rules.RecoveryEntry(q, a, h)
        for q, a, h in zip(
            (form.question + [""] * count)[:count],
            (form.answer + [""] * count)[:count],
            (form.hint + [""] * count)[:count],
            strict=True,
        )
    ]
    errors = rules.recovery_errors(entries, count, settings.recovery_answer_min_length)
    if not errors:
        hashes = await hash_answers([e.answer for e in entries])
        result = await journeys.send(
            workflow_id,
            OnboardingWorkflow.set_recovery_answers,
            SetRecoveryAnswersInput(
                [
                    RecoveryAnswer(e.question_id, h, e.hint.strip())
                    for e, h in zip(entries, hashes, strict=True)
                ]
            ),
        )
        if not isinstance(result, Rejected):
            return goto_step(request, lang, result.step)
        errors = result.errors
    return render(
        request,
        "gckey/recovery.html",
        lang=lang,
        status_code=400,
        errors=errors,
        **recovery_context(settings, form),
    )


@router.get("/recovery-email", name="recovery_email")
async def recovery_email_page(request: Request, lang: Lang, _: AtRecoveryEmail) -> Response:
    return render(request, "gckey/recovery_email.html", lang=lang, email="", errors={})


@router.post("/recovery-email")
async def recovery_email_submit(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    workflow_id: PostedJourney,
    form: Annotated[RecoveryEmailForm, Form()],
) -> Response:
    result = await journeys.send(
        workflow_id,
        OnboardingWorkflow.set_recovery_email,
        SetRecoveryEmailInput(form.email.strip()),
    )
    if isinstance(result, Rejected):
        return render(
            request,
            "gckey/recovery_email.html",
            lang=lang,
            status_code=400,
            email=form.email,
            errors=result.errors,
        )
    return goto(request, lang, "issued")


@router.get("/issued", name="issued")
async def issued_page(request: Request, lang: Lang, journey: Issued) -> Response:
    return render(request, "gckey/issued.html", lang=lang, state=journey.state)


@router.post("/issued")
async def issued_continue(request: Request, lang: Lang, journey: Issued) -> Response:
    """Continue: back to the CERS login page, signed in with the new GCKey."""
    sign_in(request, journey.workflow_id)
    return goto(request, lang, "cers_home")
