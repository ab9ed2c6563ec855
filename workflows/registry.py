"""Every workflow class the worker runs, for the replayer: a history of any kind is checked
against today's code. A test holds this list and the worker's equal."""

from __future__ import annotations

from workflows.archive import ArchiveWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.reset import PasswordResetWorkflow

WORKFLOWS: list[type] = [OnboardingWorkflow, PasswordResetWorkflow, ArchiveWorkflow]
