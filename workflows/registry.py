"""Every workflow class the worker runs. The worker registers this list and the replayer
replays with it, so a history of any kind is checked against today's code."""

from __future__ import annotations

from workflows.onboarding import OnboardingWorkflow

WORKFLOWS: list[type] = [OnboardingWorkflow]
