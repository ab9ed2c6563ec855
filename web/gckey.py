"""GCKey Sign Up in five steps (terms, username, password, recovery, e-mail); Sign In is in
web/sign_in.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from pydantic import BaseModel
from starlette.responses import Response

from core.hashing import hash_answers, hash_password
from core.normalize import normalize_username
from web.deps import AppSettings, JourneyService, Lang, Now, RateLimits
from web.forms import SentForm, sent_form
from web.guards import (
    GoTo,
    Issued,
    PostedJourney,
    at_step,
    choose_login,
    goto,
    goto_step,
    remember,
)
from web.journeys import AtStep
from web.pages import exporter_page, render, signed_in_account
from web.session import SessionKey, check_csrf, sign_in, signed_in_journey
from web.temporal import Rejected
from workflows import rules
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    AnswerTermsInput,
    ChooseUsernameInput,
    LoginMethod,
    RecoveryAnswer,
    SetPasswordInput,
    SetRecoveryAnswersInput,
    SetRecoveryEmailInput,
    Step,
)

router = APIRouter(prefix="/{lang}/gckey", dependencies=[Depends(exporter_page)])


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


# The form id each step's POST carries (web/forms.py).
SignUpSent = Annotated[SentForm, Depends(sent_form("sign_up"))]
TermsSent = Annotated[SentForm, Depends(sent_form("terms"))]
UsernameSent = Annotated[SentForm, Depends(sent_form("username"))]
PasswordSent = Annotated[SentForm, Depends(sent_form("password"))]
RecoverySent = Annotated[SentForm, Depends(sent_form("recovery"))]
RecoveryEmailSent = Annotated[SentForm, Depends(sent_form("recovery_email"))]


@router.post("/sign-up", name="sign_up")
async def sign_up(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    limiter: RateLimits,
    sent: SignUpSent,
) -> Response:
    await limiter.hit(limiter.sign_up, request)
    step = await choose_login(request, journeys, LoginMethod.GCKEY, lang, sent)
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
    settings: AppSettings,
    workflow_id: PostedJourney,
    form: Annotated[TermsForm, Form()],
    sent: TermsSent,
) -> Response:
    result = await journeys.submit(
        workflow_id,
        OnboardingWorkflow.answer_terms,
        AnswerTermsInput(
            accepted=form.decision == "accept", terms_version=form.terms_version, language=lang
        ),
        sent.update_id,
    )
    if isinstance(result, Rejected):
        return render(
            request,
            "gckey/terms.html",
            lang=lang,
            status_code=400,
            terms_version=settings.terms_version,
            errors=result.errors,
        )
    remember(request, workflow_id, result.view)
    if result.step is Step.DECLINED:
        request.session.pop(SessionKey.JOURNEY, None)
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
    sent: UsernameSent,
) -> Response:
    # An empty username is asked for here: the workflow would list the rules it breaks.
    result = (
        await journeys.submit(
            workflow_id,
            OnboardingWorkflow.choose_username,
            ChooseUsernameInput(normalize_username(form.username)),
            sent.update_id,
        )
        if form.username.strip()
        else Rejected({"username": rules.username_errors(form.username)})
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
    remember(request, workflow_id, result.view)
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
    sent: PasswordSent,
) -> Response:
    workflow_id, state = at.workflow_id, at.state
    checks, errors = password_problems(form, state.username)
    if not errors:
        result = await journeys.submit(
            workflow_id,
            OnboardingWorkflow.set_password,
            SetPasswordInput(await hash_password(form.password)),
            sent.update_id,
        )
        if not isinstance(result, Rejected):
            remember(request, workflow_id, result.view)
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
        "max_answer": settings.recovery_answer_max_length,
        "max_hint": settings.recovery_hint_max_length,
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
    sent: RecoverySent,
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
    errors = rules.recovery_errors(
        entries,
        count,
        settings.recovery_answer_min_length,
        settings.recovery_answer_max_length,
        settings.recovery_hint_max_length,
    )
    if not errors:
        hashes = await hash_answers([e.answer for e in entries])
        result = await journeys.submit(
            workflow_id,
            OnboardingWorkflow.set_recovery_answers,
            SetRecoveryAnswersInput(
                [
                    RecoveryAnswer(e.question_id, h, e.hint.strip())
                    for e, h in zip(entries, hashes, strict=True)
                ]
            ),
            sent.update_id,
        )
        if not isinstance(result, Rejected):
            remember(request, workflow_id, result.view)
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
    now: Now,
    form: Annotated[RecoveryEmailForm, Form()],
    sent: RecoveryEmailSent,
) -> Response:
    result = await journeys.submit(
        workflow_id,
        OnboardingWorkflow.set_recovery_email,
        SetRecoveryEmailInput(form.email.strip()),
        sent.update_id,
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
    remember(request, workflow_id, result.view)
    # The GCKey is issued: this session, and only this one, may go on signed in (Continue).
    # A repeated press is answered with the first one's result and lands here as well; the
    # window to Continue runs from the issuance, so a press long after signs nobody in.
    issued_at = result.gckey_issued_at.timestamp() if result.gckey_issued_at else now
    request.session[SessionKey.ISSUED] = {"journey": workflow_id, "at": min(now, issued_at)}
    return goto(request, lang, "issued")


@router.get("/issued", name="issued")
async def issued_page(request: Request, lang: Lang, journey: Issued) -> Response:
    return render(request, "gckey/issued.html", lang=lang, state=journey.state)


async def continue_csrf(request: Request) -> None:
    """Continue's own form check. Its first press ends the session the form was made in, so a
    second press (its answer lost, or the button pressed twice) carries a token no session
    holds any more: it changes nothing and goes where Continue leads, the CERS home page when
    this browser is signed in, GCKey Sign In when it is not. Any other post is checked."""
    try:
        await check_csrf(request)
    except HTTPException:
        raise GoTo("cers_home" if signed_in_journey(request) else "gckey_sign_in") from None


# Not under the router's form check: Continue has its own (continue_csrf).
continue_router = APIRouter(
    prefix="/{lang}/gckey",
    dependencies=[Depends(continue_csrf), Depends(signed_in_account)],
)


@continue_router.post("/issued")
async def issued_continue(
    request: Request, lang: Lang, journey: Issued, settings: AppSettings, now: Now
) -> Response:
    """Continue: back to the CERS login page, signed in with the new GCKey — once, in the
    session that finished step 5, within the idle window after issuance. The sign-up cookie
    is no credential: anyone else, or later, signs in with the password."""
    grant = request.session.pop(SessionKey.ISSUED, None)
    fresh = (
        isinstance(grant, dict)
        and grant.get("journey") == journey.workflow_id
        and isinstance(grant.get("at"), int | float)
        and 0 <= now - grant["at"] <= settings.session_idle_minutes * 60
    )
    if not fresh:
        return goto(request, lang, "gckey_sign_in")
    sign_in(request, journey.workflow_id)
    return goto(request, lang, "cers_home")
