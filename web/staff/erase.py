"""Erasing a closed journey's personal information, a support action (issue 10, item 5).

Its data key and those of its Forgot your password? attempts are destroyed (db/datakeys.py):
every copy of their payloads, in Temporal and in the archive, can be read by nobody from then
on. The personal rows the application database still holds for it go too (db/erasure.py).
Refused while the journey is open (it still needs its key), and while its person holds a CERS
account from it (their account is theirs, not support's to erase). Each attempt, done or
refused, goes into the audit log with who, when and why.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response
from temporalio.client import WorkflowExecutionStatus

from db.audit import REASON_MAX, record_audit
from db.erasure import delete_personal_rows, holds_account
from db.queries import archived_run, gckey_for
from web.deps import DbEngine, JourneyService, Lang
from web.journeys import workflow_id_for
from web.pages import render
from web.session import check_csrf
from web.staff.access import SupportStaff
from web.staff.journeys import journey_path
from workflows import rules

router = APIRouter(prefix="/{lang}/staff", dependencies=[Depends(check_csrf)])

ACTION = "erase_personal_information"
TITLE = rules.N_("Erase personal information")
STILL_OPEN = rules.N_(
    "This journey is still open: its personal information can be erased only once it has ended."
)
HOLDS_ACCOUNT = rules.N_(
    "Its person holds a CERS account from this journey: its personal information cannot be erased."
)
ALREADY = rules.N_("This journey's personal information was already erased.")
GIVE_REASON = rules.N_("Give the reason for this action.")
TOO_LONG = rules.N_("Use at most 500 characters.")


class EraseForm(BaseModel):
    reason: str = ""


async def refusal(journeys: JourneyService, engine: DbEngine, journey_id: str) -> str | None:
    """Why the journey cannot be erased now (a msgid), or None; 404 if nobody knows it."""
    if await journeys.erasure(journey_id) is not None:
        return ALREADY
    described = await journeys.describe(journey_id)
    if described is None:
        known = await asyncio.to_thread(
            lambda: (
                archived_run(engine, workflow_id_for(journey_id)) or gckey_for(engine, journey_id)
            )
        )
        if known is None:
            raise HTTPException(404)
    elif described.status is WorkflowExecutionStatus.RUNNING:
        return STILL_OPEN
    if await asyncio.to_thread(holds_account, engine, journey_id):
        return HOLDS_ACCOUNT
    return None


@router.post("/journeys/{journey_id}/erase", name="staff_erase")
async def erase(
    request: Request,
    lang: Lang,
    journeys: JourneyService,
    engine: DbEngine,
    staff: SupportStaff,
    journey_id: str,
    form: Annotated[EraseForm, Form()],
) -> Response:
    journey_id = journey_path(journey_id)
    reason = form.reason.strip()
    errors: dict[str, list[str]] = {}
    refused = await refusal(journeys, engine, journey_id)
    if refused is not None:
        errors = {"action": [refused]}
    elif len(reason) < 5:
        errors = {"reason": [GIVE_REASON]}
    elif len(reason) > REASON_MAX:
        errors = {"reason": [TOO_LONG]}
    detail: dict[str, object] = {}
    if not errors:
        assert journeys.keys is not None, "the site's client keeps data keys"
        erased = await asyncio.to_thread(
            journeys.keys.erase, workflow_id_for(journey_id), journey_id, staff.username, reason
        )
        deleted = await asyncio.to_thread(
            delete_personal_rows, engine, journey_id, workflow_id_for(journey_id)
        )
        detail = {"keys_destroyed": len(erased), "archived_runs_deleted": deleted}
    await asyncio.to_thread(
        record_audit,
        engine,
        staff,
        ACTION,
        journey_id,
        reason,
        detail,
        "refused" if errors else "done",
    )
    if errors.get("action") == [ALREADY]:
        # A second press (or another staff member's): the page already says who erased it.
        url = request.url_for("staff_journey", lang=lang, journey_id=journey_id)
        return RedirectResponse(str(url), status_code=303)
    if errors:
        return render(
            request,
            "staff/erase_refused.html",
            lang=lang,
            status_code=409 if "action" in errors else 400,
            staff=staff,
            journey_id=journey_id,
            title=TITLE,
            form=form,
            errors=errors,
        )
    url = request.url_for("staff_journey", lang=lang, journey_id=journey_id)
    return RedirectResponse(f"{url}?done={ACTION}", status_code=303)
