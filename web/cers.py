"""CERS: the login page, Create User Account, the confirmation link and the portal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from pydantic import BaseModel
from starlette.responses import Response

from core.links import ResumeLink, read_resume_token
from db.models import UserAccount
from db.queries import account_for
from settings import Settings
from web.deps import AppSettings, DbEngine, JourneyService, Lang
from web.forms import SentForm, sent_form
from web.guards import LinkInToken, SignedIn, goto, goto_step, journey_view, of_browser, remember
from web.journeys import Journeys, journey_id_of, workflow_id_for
from web.pages import current_account, exporter_page, render
from web.session import SessionKey, sign_out, signed_in_journey
from web.temporal import JourneyClosed, Rejected, StepRefused
from web.zones import canonical, zone_list
from workflows.onboarding import OnboardingWorkflow
from workflows.support import RESUME_LINK_HOURS, why_link_dead
from workflows.types import (
    LINK_EXPIRED,
    LINK_REPLACED,
    ChangeEmailInput,
    ConfirmEmailInput,
    CreateAccountInput,
    LoginMethod,
    Profile,
    RequestNewLinkInput,
    Step,
    UseResumeLinkInput,
)

router = APIRouter(prefix="/{lang}", dependencies=[Depends(exporter_page)])
SIGN_UP_STEPS = (
    Step.TERMS,
    Step.USERNAME,
    Step.PASSWORD,
    Step.RECOVERY_ANSWERS,
    Step.RECOVERY_EMAIL,
)


# The form id each POST carries (web/forms.py).
AccountSent = Annotated[SentForm, Depends(sent_form("account"))]
ChangeEmailSent = Annotated[SentForm, Depends(sent_form("change_email"))]
NewLinkSent = Annotated[SentForm, Depends(sent_form("new_link"))]
ConfirmSent = Annotated[SentForm, Depends(sent_form("confirm"))]
ConfirmNewLinkSent = Annotated[SentForm, Depends(sent_form("confirm_new_link"))]
ResumeLinkSent = Annotated[SentForm, Depends(sent_form("resume_link"))]


class AccountForm(BaseModel):
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    telephone: str = ""
    time_zone: str = ""
    language: str = ""


async def load_account(engine: DbEngine, workflow_id: str) -> UserAccount | None:
    return await asyncio.to_thread(account_for, engine, journey_id_of(workflow_id))


@router.get("/login", name="login")
async def login_page(request: Request, lang: Lang, journeys: JourneyService) -> Response:
    timed_out = bool(request.session.pop(SessionKey.TIMED_OUT, False))
    # A sign-up left half done in this browser is offered back, at the step it stopped.
    unfinished = None
    if not signed_in_journey(request):
        current = await of_browser(request, journeys)
        if current and current.state.gckey_issued_at is None:
            unfinished = current.state if current.state.step in SIGN_UP_STEPS else None
    return render(request, "cers/login.html", lang=lang, timed_out=timed_out, unfinished=unfinished)


@router.get("/resume", name="resume")
async def resume(request: Request, lang: Lang, journeys: JourneyService) -> Response:
    """Wherever this browser's journey stands. Asked afresh: a refused step lands here, so
    whatever the session believed may be behind."""
    if signed_in_journey(request):
        return goto(request, lang, "cers_home")
    current = await of_browser(request, journeys, ask=True)
    grant = request.session.get(SessionKey.ISSUED)
    if current and isinstance(grant, dict) and grant.get("journey") == current.workflow_id:
        # This session issued the GCKey and has not pressed Continue yet: a repeated last
        # step that Temporal could not match to the first (the journey continued as new
        # between the two) is refused, and lands here.
        return goto(request, lang, "issued")
    if current is None or current.state.gckey_issued_at is not None:
        return goto(request, lang, "login")
    return goto_step(request, lang, current.state.step)


def resume_token(settings: Settings, token: str) -> ResumeLink | None:
    return read_resume_token(
        settings.secret_key.get_secret_value(), token, RESUME_LINK_HOURS * 3600
    )


def link_gone(request: Request, lang: str) -> Response:
    return render(request, "cers/resume_expired.html", lang=lang, status_code=410)


@router.get("/resume/{token}", name="resume_link")
async def resume_link(
    request: Request, lang: Lang, journeys: JourneyService, token: str, settings: AppSettings
) -> Response:
    """Support's e-mailed link back to a journey. It signs nobody in and puts no journey in
    this browser: holding it is not being the journey's owner. It leads to signing in, and
    from there to the unfinished step. A page with a button first: mail scanners that open
    links must not use it up."""
    link = resume_token(settings, token)
    state = await journeys.state(workflow_id_for(link.journey_id)) if link else None
    if link is None or state is None:
        return link_gone(request, lang)
    if state.step is Step.CANCELLED:
        return goto(request, lang, "journey_cancelled")
    if why_link_dead(state, link.resume_link_number, datetime.now(UTC)):
        return link_gone(request, lang)
    gckey = state.login_method is LoginMethod.GCKEY
    return render(request, "cers/resume.html", lang=lang, token=token, gckey=gckey)


@router.post("/resume/{token}")
async def resume_link_use(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    token: str,
    settings: AppSettings,
    sent: ResumeLinkSent,
) -> Response:
    """The journey records the link's one use, then the person signs in the usual way."""
    link = resume_token(settings, token)
    if link is None:
        return link_gone(request, lang)
    try:
        used = await journeys.send(
            workflow_id_for(link.journey_id),
            OnboardingWorkflow.use_resume_link,
            UseResumeLinkInput(link.resume_link_number),
            sent.update_id,
        )
    except (StepRefused, JourneyClosed):
        return link_gone(request, lang)
    if used.login_method is LoginMethod.GCKEY:
        return goto(request, lang, "gckey_sign_in")
    return goto(request, lang, "login")  # its Sign-In Partner button


@router.get("/cancelled", name="journey_cancelled")
async def cancelled_page(request: Request, lang: Lang) -> Response:
    request.session.pop(SessionKey.JOURNEY, None)
    return render(request, "cers/cancelled.html", lang=lang)


@router.get("/sign-up-expired", name="sign_up_expired")
async def sign_up_expired_page(request: Request, lang: Lang) -> Response:
    request.session.pop(SessionKey.JOURNEY, None)
    return render(request, "cers/sign_up_expired.html", lang=lang)


@router.get("/cers", name="cers_home")
async def cers_home(
    request: Request, lang: Lang, journeys: JourneyService, workflow_id: SignedIn
) -> Response:
    """Where a signed-in user belongs: their unfinished step, Create User Account, or the portal."""
    if current_account(request):
        return goto(request, lang, "portal")
    state = await journey_view(request, journeys, workflow_id)
    if state is None:
        sign_out(request)
        return goto(request, lang, "login")
    return goto_step(request, lang, state.step)


@router.get("/cers/welcome", name="welcome")
async def welcome(
    request: Request, lang: Lang, workflow_id: SignedIn, journeys: JourneyService
) -> Response:
    state = await journey_view(request, journeys, workflow_id)
    partner = state is not None and state.login_method is LoginMethod.SIGN_IN_PARTNER
    return render(request, "cers/welcome.html", lang=lang, partner=partner)


def account_form_page(
    request: Request, lang: Lang, form: AccountForm, errors: dict[str, list[str]], status: int
) -> Response:
    return render(
        request,
        "cers/account.html",
        lang=lang,
        status_code=status,
        form=form,
        errors=errors,
        zone_groups=zone_list(lang, datetime.now(UTC)),
    )


@router.get("/cers/account", name="create_account")
async def account_page(
    request: Request, lang: Lang, journeys: JourneyService, workflow_id: SignedIn
) -> Response:
    state = await journey_view(request, journeys, workflow_id)
    if state is None or state.step is not Step.CREATE_ACCOUNT:
        return goto(request, lang, "cers_home")
    form = AccountForm(email=state.recovery_email, language=lang)
    return account_form_page(request, lang, form, {}, 200)


@router.post("/cers/account")
async def account_submit(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    form: Annotated[AccountForm, Form()],
    workflow_id: SignedIn,
    sent: AccountSent,
) -> Response:
    profile = Profile(
        given_name=form.given_name.strip(),
        family_name=form.family_name.strip(),
        email=form.email.strip(),
        telephone=form.telephone.strip(),
        time_zone=canonical(form.time_zone),  # an old page's alias is kept as the zone it is
        language=form.language,
    )
    result = await journeys.submit(
        workflow_id, OnboardingWorkflow.create_account, CreateAccountInput(profile), sent.update_id
    )
    if isinstance(result, Rejected):
        return account_form_page(request, lang, form, result.errors, 400)
    remember(request, workflow_id, result.view)
    return goto(request, lang, "account_created")


@router.get("/cers/account/created", name="account_created")
async def account_created(request: Request, lang: Lang, _: SignedIn) -> Response:
    account = current_account(request)
    if account is None:
        return goto(request, lang, "cers_home")
    return render(request, "cers/account_created.html", lang=lang, account=account)


class EmailForm(BaseModel):
    email: str = ""


@router.get("/portal", name="portal")
async def portal(
    request: Request, lang: Lang, journeys: JourneyService, workflow_id: SignedIn
) -> Response:
    return await portal_page(request, lang, journeys, workflow_id)


async def portal_page(
    request: Request,
    lang: str,
    journeys: Journeys,
    workflow_id: str,
    *,
    status: int = 200,
    email: str = "",
    errors: dict[str, list[str]] | None = None,
) -> Response:
    account = current_account(request)
    if account is None:
        return goto(request, lang, "cers_home")
    state = None if account.email_confirmed_at else await journeys.state(workflow_id)
    return render(
        request,
        "cers/portal.html",
        lang=lang,
        status_code=status,
        account=account,
        state=state,
        # The mail server refused the account's address for good: the person gives another.
        refused=bool(state and state.mail_refused and state.mail_refused.address == account.email),
        email=email,
        errors=errors or {},
        sent=bool(request.session.pop(SessionKey.LINK_SENT, False)),
    )


@router.post("/portal/email", name="change_email")
async def change_email(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    workflow_id: SignedIn,
    form: Annotated[EmailForm, Form()],
    sent: ChangeEmailSent,
) -> Response:
    """Another address, once the mail server has refused the account's: a new confirmation
    link goes to it (a journey with no refused address answers WrongStep: back to the portal)."""
    result = await journeys.submit(
        workflow_id,
        OnboardingWorkflow.change_email,
        ChangeEmailInput(form.email.strip()),
        sent.update_id,
    )
    if isinstance(result, Rejected):
        return await portal_page(
            request, lang, journeys, workflow_id, status=400, email=form.email, errors=result.errors
        )
    request.session[SessionKey.LINK_SENT] = True
    return goto(request, lang, "portal")


@router.post("/portal/new-link", name="new_link")
async def new_link(
    request: Request, lang: Lang, journeys: JourneyService, workflow_id: SignedIn, sent: NewLinkSent
) -> Response:
    try:
        await journeys.send(
            workflow_id, OnboardingWorkflow.request_new_link, RequestNewLinkInput(), sent.update_id
        )
    except (StepRefused, JourneyClosed):
        pass  # already confirmed: the portal says so
    else:
        request.session[SessionKey.LINK_SENT] = True
    return goto(request, lang, "portal")


@router.get("/confirm/{token}", name="confirm")
async def confirm_page(request: Request, lang: Lang, token: str, _: LinkInToken) -> Response:
    """A page with a button: mail scanners that open links must not use up the link."""
    return render(request, "cers/confirm.html", lang=lang, token=token, outcome=None)


@router.post("/confirm/{token}")
async def confirm_submit(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    engine: DbEngine,
    token: str,
    link: LinkInToken,
    sent: ConfirmSent,
) -> Response:
    workflow_id = workflow_id_for(link.journey_id)
    outcome = "confirmed"
    try:
        await journeys.send(
            workflow_id,
            OnboardingWorkflow.confirm_email,
            ConfirmEmailInput(link.link_number),
            sent.update_id,
        )
    except StepRefused as refused:
        outcome = {LINK_EXPIRED: "expired", LINK_REPLACED: "replaced"}.get(refused.kind, "")
    except JourneyClosed:
        outcome = ""
    if not outcome:
        account = await load_account(engine, workflow_id)
        if account is None or account.email_confirmed_at is None:
            raise HTTPException(404)
        outcome = "already"
    status = 200 if outcome in ("confirmed", "already") else 410
    return render(
        request, "cers/confirm.html", lang=lang, token=token, outcome=outcome, status_code=status
    )


@router.post("/confirm/{token}/new-link", name="confirm_new_link")
async def confirm_new_link(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    token: str,
    link: LinkInToken,
    sent: ConfirmNewLinkSent,
) -> Response:
    """The old link proves the address: a new one goes to the same address."""
    try:
        await journeys.send(
            workflow_id_for(link.journey_id),
            OnboardingWorkflow.request_new_link,
            RequestNewLinkInput(reason="expired link"),
            sent.update_id,
        )
    except (StepRefused, JourneyClosed):
        return render(request, "cers/confirm.html", lang=lang, token=token, outcome="already")
    return render(request, "cers/confirm.html", lang=lang, token=token, outcome="resent")


@router.post("/sign-out", name="sign_out")
async def sign_out_submit(request: Request, lang: Lang) -> Response:
    sign_out(request)
    # Redirect after POST: a reload of the page it lands on signs nobody out again.
    return goto(request, lang, "signed_out")


@router.get("/signed-out", name="signed_out")
async def signed_out(request: Request, lang: Lang) -> Response:
    return render(request, "cers/signed_out.html", lang=lang)
