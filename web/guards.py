"""Where a browser belongs: the page that shows each step, the journey this browser's session
is filling in, and the dependencies that send a browser to the page its journey is at."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from temporalio.exceptions import WorkflowAlreadyStartedError

from core.links import ConfirmationLink, read_token
from web.deps import AppSettings, now, services
from web.forms import SentForm
from web.journeys import AtStep, Journeys, new_workflow_id
from web.session import SessionKey, held
from workflows.types import JourneyView, LoginMethod, Step

# The page that shows each step; a returning user is sent to the one their journey is at.
STEP_PAGES = {
    Step.PARTNER_SIGN_IN: "partner",
    Step.TERMS: "terms",
    Step.USERNAME: "username",
    Step.PASSWORD: "password",
    Step.RECOVERY_ANSWERS: "recovery",
    Step.RECOVERY_EMAIL: "recovery_email",
    Step.CREATE_ACCOUNT: "welcome",
    Step.CONFIRM_EMAIL: "portal",
    Step.PORTAL: "portal",
    Step.DECLINED: "declined",
    Step.CANCELLED: "journey_cancelled",
    Step.GCKEY_EXPIRED: "gckey_sign_in",
    Step.ABANDONED: "sign_up_expired",
}


class GoTo(Exception):
    """Raised by a dependency: send the browser to the named page, in its language."""

    def __init__(self, page: str) -> None:
        super().__init__(page)
        self.page = page


def goto(request: Request, lang: str, page: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(request.url_for(page, lang=lang), status_code=status_code)


def goto_step(request: Request, lang: str, step: Step) -> RedirectResponse:
    return goto(request, lang, STEP_PAGES[step])


# The session's view of its journey (SessionKey.VIEW) answers a page without a query while
# nothing can have moved the journey behind this session's back:
# - the person's own steps come back with the view as their update's answer (remember);
# - a support action marks the view of every session of the journey stale
#   (db/sessions.py mark_views_stale), so the next page asks Temporal;
# - a timer (abandonment, a GCKey's expiry) can only fire from the view's changes_by on:
#   from a few seconds before it (clocks differ a little), the page asks again;
# - a refused step (WrongStep: another tab, or the rare race above) lands on /resume,
#   which always asks.
# An older answer never replaces a newer view (the journey's revision), so a repeated press
# answered with its first, older result cannot take a page back to a step it has left.
CLOCK_MARGIN_SECONDS = 5


def _kept(request: Request, workflow_id: str) -> dict[str, Any] | None:
    kept = request.session.get(SessionKey.VIEW)
    if isinstance(kept, dict) and kept.get("journey") == workflow_id:
        return kept
    return None


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def remember(
    request: Request, workflow_id: str, view: JourneyView | None, *, fresh: bool = False
) -> None:
    """Keeps ``view`` as this session's knowledge of the journey, unless it knows a newer
    one; ``fresh`` (a query's answer) replaces whatever it held."""
    if view is None:
        return
    kept = _kept(request, workflow_id)
    if not fresh and kept is not None and kept.get("revision", 0) >= view.revision:
        return
    request.session[SessionKey.VIEW] = {
        "journey": workflow_id,
        "step": view.step.value,
        "login_method": view.login_method.value,
        "username": view.username,
        "gckey_issued_at": _when(view.gckey_issued_at),
        "recovery_email": view.recovery_email,
        "revision": view.revision,
        "changes_by": _when(view.changes_by),
        "stale": False,
    }


def known(request: Request, workflow_id: str) -> JourneyView | None:
    """The session's view of the journey, if it can still be believed without asking."""
    kept = _kept(request, workflow_id)
    if kept is None or kept.get("stale"):
        return None
    try:
        issued, changes_by = kept["gckey_issued_at"], kept["changes_by"]
        view = JourneyView(
            step=Step(kept["step"]),
            login_method=LoginMethod(kept["login_method"]),
            username=str(kept["username"]),
            gckey_issued_at=datetime.fromisoformat(issued) if issued else None,
            recovery_email=str(kept["recovery_email"]),
            revision=int(kept["revision"]),
            changes_by=datetime.fromisoformat(changes_by) if changes_by else None,
        )
    except (KeyError, ValueError, TypeError):
        return None
    if view.changes_by and now(request) >= view.changes_by.timestamp() - CLOCK_MARGIN_SECONDS:
        return None
    return view


async def journey_view(
    request: Request, journeys: Journeys, workflow_id: str, *, ask: bool = False
) -> JourneyView | None:
    """Where the journey stands: the session's view when it holds, else Temporal's answer
    (kept for the next page); ``ask`` always asks. None when Temporal has no such journey."""
    view = None if ask else known(request, workflow_id)
    if view is None:
        view = await journeys.view(workflow_id)
        remember(request, workflow_id, view, fresh=True)
    return view


async def of_browser(request: Request, journeys: Journeys, *, ask: bool = False) -> AtStep | None:
    """The journey this browser's session is filling in, and where it stands."""
    workflow_id = held(request, SessionKey.JOURNEY)
    view = await journey_view(request, journeys, workflow_id, ask=ask) if workflow_id else None
    if view is None or workflow_id is None:
        return None
    return AtStep(workflow_id, view)


def still_open(current: AtStep | None) -> AtStep | None:
    """The browser's journey if a login choice still goes to it (none made, none over)."""
    if (
        current is None
        or current.state.step in (Step.DECLINED, Step.PORTAL, Step.ABANDONED)
        or current.state.gckey_issued_at is not None
    ):
        return None
    return current


# Where the login method may still change: a Sign-In Partner choice is taken there.
LOGIN_CHOICE_STEPS = (Step.TERMS, Step.PARTNER_SIGN_IN)


async def choose_login(
    request: Request, journeys: Journeys, method: LoginMethod, lang: str, form: SentForm
) -> Step:
    """This browser's journey takes the choice; if it has none still open, the journey this
    form starts (the same one however often it is pressed)."""
    current = still_open(await of_browser(request, journeys))
    if current is not None:
        return await _begin(request, journeys, current.workflow_id, method, lang, form.update_id)
    workflow_id = form.workflow_id()
    kept = _kept(request, workflow_id) if workflow_id else None
    # A journey this session saw go past the login choice is over for it (declined, issued,
    # cancelled, abandoned: its session let go of it); Temporal would answer the same form,
    # pressed again from the Back button, with its first answer: a new journey instead.
    if workflow_id is not None and (kept is None or kept.get("step") in LOGIN_CHOICE_STEPS):
        try:
            step = await _begin(request, journeys, workflow_id, method, lang, form.update_id)
        except WorkflowAlreadyStartedError:
            step = None  # this form's journey has ended and Temporal no longer knows the press
        if step in LOGIN_CHOICE_STEPS:
            return step
    return await _begin(request, journeys, new_workflow_id(), method, lang, None)


async def _begin(
    request: Request,
    journeys: Journeys,
    workflow_id: str,
    method: LoginMethod,
    lang: str,
    update_id: str | None,
) -> Step:
    request.session[SessionKey.JOURNEY] = workflow_id
    begun = await journeys.begin(workflow_id, method, lang, update_id)
    remember(request, workflow_id, begun.view)
    step: Step = begun.step
    return step


def at_step(step: Step) -> Callable[[Request], Awaitable[AtStep]]:
    """A dependency: the session's journey if it stands at ``step``; otherwise the browser
    is sent to where it belongs."""

    async def dependency(request: Request) -> AtStep:
        # The journeys from the services, not as a dependency of this one: each costs a
        # solve on every page view.
        current = await of_browser(request, services(request).journeys)
        if current is None:
            raise GoTo("login")
        if current.state.step is not step:
            raise GoTo(STEP_PAGES[current.state.step])
        return current

    return dependency


async def issued(request: Request) -> AtStep:
    """A dependency: the session's journey once its GCKey is issued."""
    current = await of_browser(request, services(request).journeys)
    if current is None or current.state.gckey_issued_at is None:
        raise GoTo("login")
    return current


async def confirmation_link(settings: AppSettings, token: str) -> ConfirmationLink:
    """A dependency: the journey and link number a confirmation token names, or 404."""
    link = read_token(settings.secret_key.get_secret_value(), token)
    if link is None:
        raise HTTPException(404)
    return link


def held_or_go(request: Request, key: SessionKey, page: str) -> str:
    """What the session holds under ``key``; a session without it is sent to ``page``."""
    value = held(request, key)
    if value is None:
        raise GoTo(page)
    return value


async def posted_journey(request: Request) -> str:
    """The journey a form posts to. No query first: the update's validator checks the step,
    and a journey elsewhere answers WrongStep, which sends the browser where it stands."""
    return held_or_go(request, SessionKey.JOURNEY, "login")


async def signed_in(request: Request) -> str:
    """The signed-in journey; anyone else is sent to GCKey Sign In."""
    return held_or_go(request, SessionKey.AUTH, "gckey_sign_in")


PostedJourney = Annotated[str, Depends(posted_journey)]
Issued = Annotated[AtStep, Depends(issued)]
LinkInToken = Annotated[ConfirmationLink, Depends(confirmation_link)]
SignedIn = Annotated[str, Depends(signed_in)]
