"""A sign-up left before any credential: after the abandon period without progress it ends,
its username is free for anyone, and nothing personal stays in its state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities
    from workflows.activity_types import (
        ReleaseUsernameInput,
    )
    from workflows.journey import ABANDON_UNFINISHED, DB_CALL, JourneyCore
    from workflows.types import (
        BEFORE_A_CREDENTIAL,
        RecoveryAnswer,
        Step,
        WatchForAbandonmentInput,
    )


class Abandonment(JourneyCore):
    _password_hash: str
    _recovery_answers: list[RecoveryAnswer]
    _watching_abandonment: bool

    async def _abandon_if_patched(self) -> None:
        if workflow.patched(ABANDON_UNFINISHED):
            await self._abandon_when_left()

    @workflow.signal
    async def watch_for_abandonment(self, input: WatchForAbandonmentInput) -> None:
        """A journey that was already waiting when abandonment came has no timer (its run
        passed the patch before it existed): this starts one, from its last move."""
        await self._abandon_when_left()

    async def _abandon_when_left(self) -> None:
        """Waits while the journey is before a credential; each move starts the period again."""
        if self._watching_abandonment:
            return
        self._watching_abandonment = True
        state = self._state
        period = timedelta(seconds=self._input.abandon_after_seconds)
        while state.step in BEFORE_A_CREDENTIAL:
            moves = self._moves
            left = self._last_move_at + period - workflow.now()
            try:
                await workflow.wait_condition(
                    self._moved_since(moves), timeout=max(left, timedelta(seconds=1))
                )
            except TimeoutError:
                await self._abandon(moves)

    def _moved_since(self, moves: int) -> Callable[[], bool]:
        return lambda: self._moves != moves or self._state.step not in BEFORE_A_CREDENTIAL

    async def _abandon(self, moves: int) -> None:
        async with self._lock:  # a step under way finishes first, and counts as progress
            state = self._state
            if self._moves != moves or state.step not in BEFORE_A_CREDENTIAL:
                return
            if state.username:
                await workflow.execute_local_activity_method(
                    AccountActivities.release_username,
                    ReleaseUsernameInput(journey_id=state.journey_id),
                    **DB_CALL,
                )
            # History keeps what the audit trail needs; the state keeps no one's details.
            state.username = ""
            state.recovery_hints = []
            state.recovery_email = ""
            self._password_hash = ""
            self._recovery_answers = []
            state.abandoned_at = workflow.now()
            state.step = Step.ABANDONED
            self._progress()
            workflow.logger.info("sign-up abandoned after %s s", self._input.abandon_after_seconds)
