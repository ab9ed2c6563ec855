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
from web.journeys import JourneyClosed, JourneyService, Rejected, StepRefused, workflow_id_for
from web.pages import language, render
from web.session import check_csrf
from web.staff.access import SignedInStaff, SupportStaff
from web.staff.journeys import journey_path
from workflows import rules
from workflows.onboarding import OnboardingWorkflow
from workflows.types import ExtendDeadlineInput, SendResumeLinkInput, SupportActionInput

router = APIRouter(prefix="/{lang}/staff", dependencies=[Depends(check_csrf)])
Lang = Annotated[str, Depends(language)]


class ActionForm(BaseModel):
    reason: str = ""
    hours: int = 72
    email: str = ""


@dataclass(frozen=True)
class Action:
    update: Any
    title: str  # a msgid

    def message(self, staff: SignedInStaff, form: ActionForm) -> Any:
        base = {"staff": staff.username, "reason": form.reason.strip()}
        if self.update is OnboardingWorkflow.extend_deadline:
            return ExtendDeadlineInput(**base, hours=form.hours)
        if self.update is OnboardingWorkflow.send_resume_link:
            return SendResumeLinkInput(**base, email=form.email.strip())
        return SupportActionInput(**base)


def utcnow() -> datetime:
    return datetime.now(UTC)


ACTIONS = {
    "resend_confirmation": Action(
        OnboardingWorkflow.resend_confirmation, rules.N_("Resend the confirmation e-mail")
    ),
    "extend_deadline": Action(
        OnboardingWorkflow.extend_deadline, rules.N_("Extend the confirmation deadline")
    ),
    "send_resume_link": Action(
        OnboardingWorkflow.send_resume_link, rules.N_("Send a link to continue the journey")
    ),
    "unlock_gckey": Action(OnboardingWorkflow.unlock_gckey, rules.N_("Unlock the GCKey")),
    "cancel": Action(OnboardingWorkflow.cancel, rules.N_("Cancel the journey")),
}
REFUSED = rules.N_("This action is not possible where the journey stands now.")
CLOSED = rules.N_("This journey has ended; nothing more can be done to it.")


@router.post("/journeys/{journey_id}/actions/{name}", name="staff_action")
async def act(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
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
    errors: dict[str, list[str]] = {}
    try:
        result = await journeys.send(workflow_id_for(journey_id), action.update, message)
    except StepRefused:
        errors = {"action": [REFUSED]}
    except JourneyClosed:
        errors = {"action": [CLOSED]}
    else:
        if isinstance(result, Rejected):
            errors = result.errors
    detail = {k: v for k, v in vars(message).items() if k not in ("staff", "reason")}
    outcome = "refused" if errors else "done"
    await asyncio.to_thread(
        record_audit,
        request.app.state.engine,
        staff,
        name,
        journey_id,
        form.reason.strip(),
        detail,
        outcome,
    )
    if errors:
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
        )
    url = request.url_for("staff_journey", lang=lang, journey_id=journey_id)
    return RedirectResponse(f"{url}?done={name}", status_code=303)
