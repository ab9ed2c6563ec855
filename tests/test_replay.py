"""Today's workflow code replays every committed history: a change that would break running
journeys fails here, before it is deployed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.onboarding import OnboardingWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_every_path_of_the_journey_has_a_history() -> None:
    assert {h.stem for h in HISTORIES} >= {"completed", "declined_terms", "expired_then_new_link"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    text = path.read_text()
    first = json.loads(text)["events"][0]
    workflow_id = first["workflowExecutionStartedEventAttributes"].get("workflowId", path.stem)
    history = WorkflowHistory.from_json(workflow_id, text)
    result = await Replayer(workflows=[OnboardingWorkflow]).replay_workflow(history)
    assert result.replay_failure is None
