"""The journey's own metrics, through the SDK's workflow meter: nothing is recorded while
history is replayed, so a journey counts once however many workers replay it. No command
comes of it, so it needs no patch. Labels are the login method and the step: never who."""

from __future__ import annotations

from temporalio import workflow

from workflows.types import FINISHED_STEPS, LoginMethod, Step


def journey_started(login_method: LoginMethod) -> None:
    workflow.metric_meter().create_counter(
        "cers_journeys_started", "Journeys begun, by login method"
    ).add(1, {"login_method": login_method.value})


def journey_moved(before: Step, now: Step, login_method: LoginMethod) -> None:
    """A journey that reaches a finished step from an open one has finished, with that step as
    its outcome (a GCKey that expires after the portal does not finish it twice)."""
    if before not in FINISHED_STEPS and now in FINISHED_STEPS:
        workflow.metric_meter().create_counter(
            "cers_journeys_finished", "Journeys finished, by login method and outcome"
        ).add(1, {"login_method": login_method.value, "outcome": now.value})
