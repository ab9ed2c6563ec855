"""The support side's reading: the journey list from Temporal visibility, search by what a
person tells staff (resolved through the application database), and one journey's page."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import Engine
from starlette.responses import Response
from starlette.routing import NoMatchFound
from temporalio.client import WorkflowExecutionStatus

from db.audit import audit_entries
from db.queries import (
    account_for,
    gckey_for,
    journeys_for_email,
    journeys_for_urn,
    journeys_for_username,
)
from web.deps import AppSettings, DbEngine, JourneyService, Lang
from web.journeys import ListPageGone
from web.pages import render
from web.staff import words
from web.staff.access import AnyStaff
from web.staff.paging import list_key, previous_page
from web.staff.reading import Filters, ListPage, StaffReader
from workflows import rules
from workflows.search import JourneyStatus
from workflows.types import LoginMethod, Step

router = APIRouter(prefix="/{lang}/staff")

NO_MATCH = rules.N_("No journey has this username, e-mail address or URN.")
ENTER_SEARCH = rules.N_("Enter a username, an e-mail address or a URN.")
PAGE_GONE = rules.N_(
    "This page of the list is no longer available. Start again from the first page."
)


def get_reader(journeys: JourneyService) -> StaffReader:
    return StaffReader(journeys)


Reader = Annotated[StaffReader, Depends(get_reader)]


def now() -> datetime:
    return datetime.now(UTC)


def list_context(filters: Filters) -> dict[str, object]:
    """The filter form's choices, in the order a journey meets them."""
    return {
        "filters": filters,
        "steps": [(s.value, words.STEPS.get(s, s.value)) for s in Step],
        "statuses": [(s.value, words.STATUSES[s]) for s in JourneyStatus],
        "login_methods": [(m.value, words.LOGIN_METHODS[m]) for m in LoginMethod],
    }


@router.get("/journeys", name="staff_journeys")
async def journey_list(
    request: Request,
    lang: Lang,
    staff: AnyStaff,
    reader: Reader,
    settings: AppSettings,
    step: str = "",
    status: str = "",
    login_method: str = "",
    idle_hours: str = "",
    stuck: str = "",
    page: str = "",
) -> Response:
    filters, errors = Filters.parse(step, status, login_method, idle_hours, stuck)
    try:
        listed = await reader.page(filters, "" if errors else page, now())
    except ListPageGone:
        listed, errors = ListPage([], ""), {"page": [PAGE_GONE]}
    kept = {
        "step": filters.step,
        "status": filters.status,
        "login_method": filters.login_method,
        "idle_hours": idle_hours,
        "stuck": "1" if filters.stuck else "",
    }
    previous = previous_page(request.session, list_key(kept), listed.number, page)
    return render(
        request,
        "staff/journeys.html",
        lang=lang,
        status_code=400 if errors else 200,
        staff=staff,
        rows=listed.rows,
        next_token=listed.next_token,
        previous_token=previous,
        page_number=listed.number,
        kept=kept,
        paged=bool(page),
        idle_hours=idle_hours,
        errors=errors,
        stuck_after_hours=f"{settings.stuck_after_hours:g}",
        **list_context(filters),
    )


def find_journeys(engine: Engine, text: str) -> list[str]:
    """A URN (ten digits with its check digit), an e-mail address, or a GCKey username."""
    if rules.is_urn(text):
        return journeys_for_urn(engine, text)
    if "@" in text:
        return journeys_for_email(engine, text)
    return journeys_for_username(engine, text)


@router.get("/search", name="staff_search")
async def search(
    request: Request, lang: Lang, staff: AnyStaff, engine: DbEngine, q: str = ""
) -> Response:
    text = q.strip()
    wanted = text and not rules.is_mistyped_urn(text)
    found = await asyncio.to_thread(find_journeys, engine, text) if wanted else []
    if len(found) == 1:
        url = request.url_for("staff_journey", lang=lang, journey_id=found[0])
        return Response(status_code=303, headers={"Location": str(url)})
    if found:  # one e-mail address on several journeys
        people = await asyncio.to_thread(lambda: [(j, account_for(engine, j)) for j in found])
        return render(request, "staff/search.html", lang=lang, staff=staff, q=text, found=people)
    return render(
        request,
        "staff/search.html",
        lang=lang,
        status_code=400,
        staff=staff,
        q=text,
        found=[],
        errors={"q": [search_error(text)]},
    )


def search_error(text: str) -> str:
    if not text:
        return ENTER_SEARCH
    return rules.URN_MISTYPED if rules.is_mistyped_urn(text) else NO_MATCH


def journey_path(journey_id: str) -> str:
    """A journey id as the site makes them (a UUID), or 404."""
    try:
        return str(uuid.UUID(journey_id))
    except ValueError as err:
        raise HTTPException(404) from err


@router.get("/journeys/{journey_id}", name="staff_journey")
async def journey_page(
    request: Request,
    lang: Lang,
    staff: AnyStaff,
    reader: Reader,
    journeys: JourneyService,
    engine: DbEngine,
    journey_id: str,
) -> Response:
    journey_id = journey_path(journey_id)
    erasure = await journeys.erasure(journey_id)
    if erasure is not None:
        # Nothing of the person is left to read, and Temporal's copy cannot be queried.
        entries = await asyncio.to_thread(audit_entries, engine, journey_id)
        return render(
            request,
            "staff/journey.html",
            lang=lang,
            staff=staff,
            journey_id=journey_id,
            erasure=erasure,
            journey=None,
            audit=entries,
            timeline_url="",
        )
    row, (gckey, account, entries) = await asyncio.gather(
        reader.journey(journey_id, now()),
        asyncio.to_thread(
            lambda: (
                gckey_for(engine, journey_id),
                account_for(engine, journey_id),
                audit_entries(engine, journey_id),
            )
        ),
    )
    if row is None and gckey is None and account is None:
        raise HTTPException(404)
    try:
        timeline = str(request.url_for("staff_timeline", lang=lang, journey_id=journey_id))
    except NoMatchFound:  # the auditor's pages are not part of this site
        timeline = ""
    state = row.state if row else None
    return render(
        request,
        "staff/journey.html",
        lang=lang,
        staff=staff,
        journey_id=journey_id,
        journey=row,
        locked=bool(state and state.locked_until and state.locked_until > now()),
        gckey=gckey,
        user_account=account,
        audit=entries,
        timeline_url=timeline,
        # Offered once the journey has ended, and only while no CERS account holds it.
        erasable=account is None
        and (row is None or row.execution_status != WorkflowExecutionStatus.RUNNING.name.lower()),
    )
