"""Every workflow class: the worker runs these, and the replayer checks a history of any of
them against today's code. A test holds this list to the classes defined under workflows/."""

from __future__ import annotations

from workflows.archive import ArchiveWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.reset import PasswordResetWorkflow

WORKFLOWS: list[type] = [OnboardingWorkflow, PasswordResetWorkflow, ArchiveWorkflow]
