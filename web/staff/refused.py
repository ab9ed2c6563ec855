"""Workflows of this deployment, other than journeys, that the worker keeps failing: a
Forgot your password? attempt someone started with payloads not encrypted with the service's
keys shows up here (a refused journey shows up as stuck in the journey list instead)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from web.deps import AppSettings, Lang, ResetService
from web.pages import render
from web.staff.access import AnyStaff
from workflows.onboarding import OnboardingWorkflow

router = APIRouter(prefix="/{lang}/staff")


def others_query(task_queue: str) -> str:
    return (
        f"TaskQueue = '{task_queue.replace(chr(39), '')}' AND ExecutionStatus = 'Running'"
        f" AND WorkflowType != '{OnboardingWorkflow.__name__}'"
    )


@router.get("/refused", name="staff_refused")
async def refused_workflows(
    request: Request, lang: Lang, staff: AnyStaff, resets: ResetService, settings: AppSettings
) -> Response:
    failing = await resets.failing(others_query(settings.task_queue))
    return render(request, "staff/refused.html", lang=lang, staff=staff, failing=failing)
