"""The password-reset gateway: every call the site makes to a Forgot your password? attempt's
workflow in Temporal."""

from __future__ import annotations

import uuid

from core.temporal import reader_of
from web.temporal import Gateway, deadline
from workflows.inputs import password_reset_input
from workflows.reset import PasswordResetWorkflow
from workflows.reset_types import ResetState
from workflows.types import PASSWORD_RESET_ID_PREFIX


class Resets(Gateway[PasswordResetWorkflow]):
    async def start(self, journey_id: str, question_ids: list[str], lang: str) -> str:
        """A new attempt for the journey's GCKey ("" for an unknown username); its workflow id."""
        settings = self.settings
        reset_id = str(uuid.uuid4())
        workflow_id = PASSWORD_RESET_ID_PREFIX + reset_id
        keys = reader_of(self.client.data_converter, settings.payload_ring).keys
        if keys is not None and journey_id:
            # Its data key filed under the journey: erasing the journey erases the attempt.
            await keys.claim(workflow_id, journey_id)
        async with deadline():
            await self.client.start_workflow(
                PasswordResetWorkflow.run,
                password_reset_input(
                    settings,
                    reset_id=reset_id,
                    journey_id=journey_id,
                    question_ids=question_ids,
                    language=lang,
                ),
                id=workflow_id,
                task_queue=settings.task_queue,
                rpc_timeout=self.timeout,
            )
        return workflow_id

    async def state(self, workflow_id: str) -> ResetState | None:
        state: ResetState | None = await self._query(workflow_id, PasswordResetWorkflow.reset, None)
        return state
