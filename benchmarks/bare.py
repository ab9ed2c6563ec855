"""The floor under every form step: updates that do nothing, or run one no-op activity."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop_activity() -> None:
    return None


@workflow.defn
class BareWorkflow:
    """The floor: updates that do nothing, or run one no-op activity."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    def plain(self) -> None:
        return None

    @workflow.update
    async def local(self) -> None:
        await workflow.execute_local_activity(
            noop_activity, start_to_close_timeout=timedelta(seconds=5)
        )

    @workflow.update
    async def regular(self) -> None:
        await workflow.execute_activity(noop_activity, start_to_close_timeout=timedelta(seconds=5))

    @workflow.signal
    def finish(self) -> None:
        self.done = True
