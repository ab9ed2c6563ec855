"""The staff area under /{lang}/staff: support staff and auditors, with their own sign-in.

Other staff pages take one of the role dependencies, which check the role on the server on
every request:

    from web.staff import AnyStaff, SupportStaff

    @router.post("/journeys/{journey_id}/cancel")
    async def cancel(..., staff: SupportStaff) -> Response: ...

and record what they did with ``db.audit.record_audit(engine, staff, action, journey_id,
reason, detail, outcome)``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from db.staff import StaffRole
from web.pages import GLOBALS, page_language, render
from web.routes import include
from web.staff.access import (
    AnyStaff,
    RoleCheck,
    SignedInStaff,
    StaffForbidden,
    SupportStaff,
)

__all__ = [
    "AnyStaff",
    "RoleCheck",
    "SignedInStaff",
    "StaffForbidden",
    "StaffRole",
    "SupportStaff",
    "add_staff_area",
]


def add_staff_area(app: FastAPI) -> None:
    """Its routes and its 403 page, on the app web/app.py builds."""
    from web.staff import access, actions, erase, journeys, refused, words
    from workflows import support

    GLOBALS["staff_words"] = words
    GLOBALS["staff_actions"] = actions.ACTIONS
    GLOBALS["erase_action"] = (erase.ACTION, erase.TITLE)
    GLOBALS["offered_actions"] = actions.offered_actions
    GLOBALS["resume_addresses"] = support.resume_addresses
    include(app, access.router)
    include(app, journeys.router)
    include(app, actions.router)
    include(app, erase.router)
    include(app, refused.router)

    @app.exception_handler(StaffForbidden)
    async def forbidden(request: Request, exc: StaffForbidden) -> Response:
        return render(
            request,
            "staff/forbidden.html",
            lang=page_language(request),
            status_code=403,
            staff=getattr(request.state, "staff", None),
        )
