"""Where a browser belongs: the page that shows each step, the journey this browser's session
is filling in, and the dependencies that send a browser to the page its journey is at."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from core.links import ConfirmationLink, read_token
from web.deps import AppSettings, JourneyService
from web.journeys import AtStep, Journeys, new_workflow_id
from web.session import SessionKey, held
from workflows.types import LoginMethod, Step

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


async def of_browser(request: Request, journeys: Journeys) -> AtStep | None:
    """The journey this browser's session is filling in, and where it stands."""
    workflow_id = held(request, SessionKey.JOURNEY)
    state = await journeys.state(workflow_id) if workflow_id else None
    if state is None or workflow_id is None:
        return None
    return AtStep(workflow_id, state)


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
    request: Request, journeys: Journeys, method: LoginMethod, lang: str
) -> Step:
    """This browser's journey takes the choice; a new journey if it has none still open."""
    current = still_open(await of_browser(request, journeys))
    workflow_id = new_workflow_id() if current is None else current.workflow_id
    request.session[SessionKey.JOURNEY] = workflow_id
    return await journeys.begin(workflow_id, method, lang)


def at_step(step: Step) -> Callable[[Request, Journeys], Awaitable[AtStep]]:
    """A dependency: the session's journey if it stands at ``step``; otherwise the browser
    is sent to where it belongs."""

    async def dependency(request: Request, journeys: JourneyService) -> AtStep:
        current = await of_browser(request, journeys)
        if current is None:
            raise GoTo("login")
        if current.state.step is not step:
            raise GoTo(STEP_PAGES[current.state.step])
        return current

    return dependency


async def issued(request: Request, journeys: JourneyService) -> AtStep:
    """A dependency: the session's journey once its GCKey is issued."""
    current = await of_browser(request, journeys)
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
