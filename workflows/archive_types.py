"""Types of the archiving workflow and its activities. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# The journeys archived are this workflow type's; their visibility records say when they closed.
JOURNEY_WORKFLOW_TYPE = "OnboardingWorkflow"


def archive_schedule_id(task_queue: str) -> str:
    """One schedule per deployment (task queue), so two deployments in a namespace don't meet."""
    return f"archive-closed-journeys-{task_queue}"


@dataclass
class ArchiveClosedInput:
    task_queue: str  # the deployment whose journeys are archived into its own database
    batch: int = 100


@dataclass
class ArchiveClosedResult:
    listed: int
    archived: int
    failed: int = 0


@dataclass
class ClosedJourneysInput:
    task_queue: str
    limit: int = 100


@dataclass
class ClosedRun:
    workflow_id: str
    run_id: str
    closed_at: datetime | None = None


@dataclass
class ClosedJourneysResult:
    runs: list[ClosedRun] = field(default_factory=list)


@dataclass
class ArchiveJourneyInput:
    workflow_id: str
    run_id: str


@dataclass
class ArchiveJourneyResult:
    archived: bool  # False: it was in the archive already
    event_count: int = 0
