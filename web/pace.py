"""How long a sign-in verdict takes, so that a failure that makes no Temporal round trip waits
about as long as one that does."""

from __future__ import annotations

import asyncio
import statistics
from collections import deque


class SignInPace:
    """A known username's verdict costs a Temporal round trip that an unknown one doesn't
    make; the unknown one waits about as long, so the two can't be told apart by time."""

    def __init__(self) -> None:
        self._recent: deque[float] = deque([0.01], maxlen=50)

    def record(self, seconds: float) -> None:
        self._recent.append(seconds)

    async def pad(self) -> None:
        await asyncio.sleep(statistics.median(self._recent))
