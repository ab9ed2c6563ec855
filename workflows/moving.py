"""The cut-over to encrypted payloads: a journey started before encryption moves onto an
encrypted history by continuing as new, wherever it stands.

Its history holds plain payloads the worker reads only while the cut-over window is open
(PAYLOAD_ACCEPT_PLAINTEXT). The new run begins with everything the journey carries, written
again through the codec, so once every running journey has moved the window closes and
nothing plain is read again (README, "Encryption in Temporal").
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.journey import JourneyCore
    from workflows.types import MoveToEncryptedHistoryInput

# Recorded in the old run just before it continues as new: the move came from this code.
MOVES_TO_ENCRYPTED_HISTORY = "moves-to-encrypted-history"


class MovesToEncryptedHistory(JourneyCore):
    _watching: list[asyncio.Task[None]]  # workflows/delivery.py: what became of each e-mail

    @workflow.signal
    async def move_to_encrypted_history(self, input: MoveToEncryptedHistoryInput) -> None:
        """Continues as new once no step is in progress and no e-mail is on its way."""
        if not self._begun:
            return  # nothing to carry: the first update has not arrived
        await workflow.wait_condition(
            lambda: (
                not self._lock.locked()
                and all(s.done() for s in self._sending)
                and all(w.done() for w in self._watching)
            )
        )
        workflow.patched(MOVES_TO_ENCRYPTED_HISTORY)
        workflow.logger.info("moving to encrypted history, asked by %s", input.operator)
        workflow.continue_as_new(self._carried())
