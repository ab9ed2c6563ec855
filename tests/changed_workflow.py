"""A change deployed without ``workflow.patched``, for the tests that show replay catches it.
The replayer re-imports this module in its sandbox; what it imports passes through."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.onboarding import OnboardingWorkflow
    from workflows.types import OnboardingInput, OnboardingResult


@workflow.defn(name="OnboardingWorkflow")
class ChangedOnboardingWorkflow(OnboardingWorkflow):
    """The journey now waits a second before anything else, a timer no recorded journey ever
    started."""

    @workflow.run
    async def run(self, input: OnboardingInput) -> OnboardingResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


@workflow.defn(name="OnboardingWorkflow")
class EarlierOnboardingWorkflow(OnboardingWorkflow):
    """The journey as deployed before abandonment came: its run starts no abandon timer (and
    records no patch marker), as journeys already waiting at a deployment did."""

    @workflow.run
    async def run(self, input: OnboardingInput) -> OnboardingResult:
        return await super().run(input)

    async def _abandon_if_patched(self) -> None:
        return
