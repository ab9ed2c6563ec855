"""Support staff's actions on a journey: each is an update on the journey's workflow (which
says whether it is allowed where the journey stands), with the staff member and the reason,
and each attempt goes into the audit log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response

from db.audit import record_audit
from db.sessions import end_journey_sessions, mark_views_stale
from web.deps import DbEngine, JourneyService, Lang
from web.forms import FIELD, read_form_id
from web.journeys import workflow_id_for
from web.pages import render
from web.session import SessionKey, check_csrf
from web.staff.access import SignedInStaff, SupportStaff
from web.staff.journeys import journey_path
from web.temporal import JourneyClosed, Rejected, StepRefused
from workflows import rules
from workflows.onboarding import OnboardingWorkflow
from workflows.support import has_credential, resume_addresses
from workflows.types import (
    OPEN_STEPS,
    ConfirmationStatus,
    ExtendDeadlineInput,
    JourneyState,
    SendResumeLinkInput,
    Step,
    SupportActionInput,
)

router = APIRouter(prefix="/{lang}/staff", dependencies=[Depends(check_csrf)])


class ActionForm(BaseModel):
    reason: str = ""
    hours: int = 72
    email: str = ""


@dataclass(frozen=True)
class Action:
    update: Any
    title: str  # a msgid
    input: type = SupportActionInput
    fields: tuple[str, ...] = ()  # what the form adds to the staff member and the reason
    # Done, it signs out every session of the journey's GCKey (whoever was guessing may
    # have got in; the owner signs in afresh).
    ends_sessions: bool = False

    def message(self, staff: SignedInStaff, form: ActionForm) -> Any:
        extra = {name: getattr(form, name) for name in self.fields}
        extra = {k: v.strip() if isinstance(v, str) else v for k, v in extra.items()}
        return self.input(staff=staff.username, reason=form.reason.strip(), **extra)


def offered_actions(state: JourneyState | None, now: datetime | None = None) -> list[str]:
    """The actions that make sense where the journey stands, as its page offers them. The
    journey's update validators decide; this only spares staff a form bound to be refused."""
    if state is None:
        return []
    now = now or datetime.now(UTC)
    confirming = state.step is Step.CONFIRM_EMAIL and (
        state.confirmation is not ConfirmationStatus.CONFIRMED
    )
    offered = {
        "resend_confirmation": confirming,
        "extend_deadline": confirming,
        # Only to an address the journey holds, and only once someone can sign in to it.
        "send_resume_link": state.step in OPEN_STEPS
        and has_credential(state)
        and bool(resume_addresses(state)),
        "unlock_gckey": state.locked_until is not None and state.locked_until > now,
        "cancel": state.step in OPEN_STEPS,
    }
    return [name for name in ACTIONS if offered[name]]


ACTIONS = {
    "resend_confirmation": Action(
        OnboardingWorkflow.resend_confirmation, rules.N_("Resend the confirmation e-mail")
    ),
    "extend_deadline": Action(
        OnboardingWorkflow.extend_deadline,
        rules.N_("Extend the confirmation deadline"),
        ExtendDeadlineInput,
        ("hours",),
    ),
    "send_resume_link": Action(
        OnboardingWorkflow.send_resume_link,
        rules.N_("Send a link to continue the journey"),
        SendResumeLinkInput,
        ("email",),
    ),
    "unlock_gckey": Action(
        OnboardingWorkflow.unlock_gckey, rules.N_("Unlock the GCKey"), ends_sessions=True
    ),
    "cancel": Action(OnboardingWorkflow.cancel, rules.N_("Cancel the journey")),
}
REFUSED = rules.N_("This action is not possible where the journey stands now.")
CLOSED = rules.N_("This journey has ended; nothing more can be done to it.")


@router.post("/journeys/{journey_id}/actions/{name}", name="staff_action")
async def act(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    engine: DbEngine,
    staff: SupportStaff,
    journey_id: str,
    name: str,
    form: Annotated[ActionForm, Form()],
) -> Response:
    journey_id = journey_path(journey_id)
    action = ACTIONS.get(name)
    if action is None:
        raise HTTPException(404)
    message = action.message(staff, form)
    # Pressed twice, the form repeats the first action rather than acting again (web/forms.py).
    sent = read_form_id(
        request.session.get(SessionKey.CSRF), f"staff-{name}", (await request.form()).get(FIELD)
    )
    errors: dict[str, list[str]] = {}
    try:
        result = await journeys.submit(
            workflow_id_for(journey_id), action.update, message, sent.update_id
        )
    except StepRefused:
        errors = {"action": [REFUSED]}
    except JourneyClosed:
        errors = {"action": [CLOSED]}
    else:
        if isinstance(result, Rejected):
            errors = result.errors
    detail = {name: getattr(message, name) for name in action.fields}
    outcome = "refused" if errors else "done"
    if action.ends_sessions and not errors:
        await asyncio.to_thread(end_journey_sessions, engine, journey_id)
    elif not errors:
        # The person's pages ask Temporal again rather than show a step the journey has left.
        await asyncio.to_thread(mark_views_stale, engine, journey_id)
    await asyncio.to_thread(
        record_audit,
        engine,
        staff,
        name,
        journey_id,
        form.reason.strip(),
        detail,
        outcome,
    )
    if errors:
        addresses: dict[str, str] = {}
        if name == "send_resume_link" and "action" not in errors:
            state = await journeys.state(workflow_id_for(journey_id))
            addresses = resume_addresses(state) if state else {}
        return render(
            request,
            "staff/action_refused.html",
            lang=lang,
            status_code=400 if "action" not in errors else 409,
            staff=staff,
            journey_id=journey_id,
            name=name,
            action=action,
            form=form,
            errors=errors,
            addresses=addresses,
        )
    url = request.url_for("staff_journey", lang=lang, journey_id=journey_id)
    return RedirectResponse(f"{url}?done={name}", status_code=303)
