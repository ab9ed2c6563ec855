"""The gauge of open journeys by step, counted in Temporal's visibility when scraped.

Counted there, not in any process: visibility knows every running journey, whichever worker
last ran it and however many restarted since. One count per open step (visibility groups
counts by execution status only), at most once per OPEN_JOURNEYS_CACHE_SECONDS. Every worker
reports the same figures: take max(), not sum(), across workers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import Gauge
from temporalio.client import Client

from settings import Settings
from workflows import search
from workflows.types import OPEN_STEPS

OPEN_JOURNEYS = Gauge(
    "cers_open_journeys", "Running journeys at each step (Temporal visibility)", ["step"]
)


class OpenJourneys:
    def __init__(
        self, client: Client, settings: Settings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client, self._settings, self._clock = client, settings, clock
        self._counted_at: float | None = None
        self._counting = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._counting:
            now = self._clock()
            fresh = self._settings.open_journeys_cache_seconds
            if self._counted_at is not None and now - self._counted_at < fresh:
                return
            steps = sorted(OPEN_STEPS)
            counts = await asyncio.gather(*(self._count(step.value) for step in steps))
            for step, count in zip(steps, counts, strict=True):
                OPEN_JOURNEYS.labels(step.value).set(count)
            self._counted_at = now

    async def _count(self, step: str) -> int:
        query = (
            "WorkflowType = 'OnboardingWorkflow' AND ExecutionStatus = 'Running' "
            f"AND TaskQueue = '{self._settings.task_queue}' AND {search.STEP.name} = '{step}'"
        )
        counted = await self._client.count_workflows(query)
        return counted.count
