"""Someone who can reach Temporal, but holds none of the service's keys, plays the attacker on
the real server with a real worker behind it: a Forgot your password? attempt they start and
drive with payloads they wrote (the issue's attack), the same with ciphertexts copied out of
another reset's history, and a signal that would end a lock. Each changes nothing, and staff
see each: the journey is stuck and its timeline says why, the reset is listed as refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import RawValue
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from core.crypto import EncryptionCodec
from core.hashing import hash_password, verify_secret
from db.engine import make_engine
from db.queries import issued_gckey
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.journeys import PASSWORD, at_portal, new_username, to_portal
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Browser, browser
from web.journeys import journey_id_of
from web.resets import Resets
from workflows.onboarding import OnboardingWorkflow
from workflows.reset import PasswordResetWorkflow
from workflows.reset_types import (
    ChooseResetWayInput,
    PasswordResetWorkflowResult,
    RecordVerificationInput,
    ResetWay,
    SetNewPasswordInput,
)
from workflows.types import RecordSignInInput

HIJACK = "Hijack7Wombat"
# Declared: mypy cannot always solve get_workflow_handle_for alone (tests/journeys.py says so).
Reset = WorkflowHandle[PasswordResetWorkflow, PasswordResetWorkflowResult]
NOT_BOUND = "a payload was encrypted for another workflow, or for none"


def keyless(client: Client) -> Client:
    """What anyone who can reach Temporal has: a client, no key."""
    return Client(client.service_client, namespace=client.namespace, data_converter=DataConverter())


async def answered(handle: WorkflowHandle[Any, Any], update: str, arg: object) -> bool:
    """Whether the workflow answered the update at all (its answer, encrypted, is nothing the
    attacker can read); refused, it is never answered."""
    try:
        await handle.execute_update(update, arg, rpc_timeout=timedelta(seconds=3))
    except (RPCTimeoutOrCancelledError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return False
    except RPCError as error:
        # An earlier copy already failed the workflow task: the server refuses the update
        # itself ("Workflow Task in failed state", WorkflowNotReadyFailure).
        if error.status == RPCStatusCode.FAILED_PRECONDITION:
            return False
        raise
    except KeyError:  # "Unknown payload encoding binary/encrypted": an answer came
        return True
    return True


async def stuck(client: Client, workflow_id: str) -> None:
    async def retried() -> bool:
        described = await client.get_workflow_handle(workflow_id).describe()
        return described.raw_description.pending_workflow_task.attempt > 1

    await until(retried, what=f"the worker to refuse {workflow_id} and retry")


def password_of(settings: Settings, username: str) -> str:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        gckey = issued_gckey(engine, username)
    finally:
        engine.dispose()
    assert gckey is not None and gckey.password_hash
    return gckey.password_hash


async def event_types(client: Client, workflow_id: str) -> list[int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [e.event_type for e in history.events]


@asynccontextmanager
async def staff_signed_in(settings: Settings, client: Client) -> AsyncIterator[Browser]:
    staff = Staff(settings)
    async with browser(settings, client) as b:
        await staff_sign_in(b, staff.auditor)
        yield b


async def test_a_reset_forged_by_someone_who_can_reach_temporal_changes_nothing(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    attacker = keyless(client)
    async with new_worker(client, settings):
        username = new_username()
        victim = await to_portal(client, settings, smtp, username)
        before = password_of(settings, username)
        forged_id = f"password-reset-{uuid.uuid4()}"
        forged = await attacker.start_workflow(
            "PasswordResetWorkflow",
            {
                "reset_id": forged_id.removeprefix("password-reset-"),
                "journey_id": journey_id_of(victim.id),
                "question_ids": ["first_pet"],
                "language": "en",
                "max_failures": 3,
                "expire_after_seconds": 1800,
            },
            id=forged_id,
            task_queue=settings.task_queue,
        )
        answers = [
            await answered(forged, "choose_way", {"way": "all_answers"}),
            await answered(forged, "record_verification", {"passed": True}),
            await answered(
                forged, "set_new_password", {"password_hash": await hash_password(HIJACK)}
            ),
        ]

        # Nothing changed: the victim's password, their journey, and the forged workflow did
        # nothing at all (no activity, no signal to the journey).
        after = password_of(settings, username)
        assert after == before and verify_secret(after, PASSWORD)
        assert not verify_secret(after, HIJACK)
        state = await victim.query(OnboardingWorkflow.journey)
        assert state.password_reset_at is None
        assert answers == [False, False, False]
        await stuck(client, forged_id)
        done = set(await event_types(client, forged_id))
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED not in done
        assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED not in done

        # Staff see it, in both languages.
        async with staff_signed_in(settings, client) as b:
            page = await b.get("/en/staff/refused")
            assert page.h1 == "Workflows the worker refuses"
            rows = page.texts("tr.refused-workflow")
            assert any(forged_id in row and "PasswordResetWorkflow" in row for row in rows)
            french = await b.get("/fr/staff/refused")
            assert french.h1 == "Flux de travail que le travailleur refuse"
            assert any(forged_id in row for row in french.texts("tr.refused-workflow"))
        await forged.terminate("refused: test over")


async def test_ciphertexts_copied_from_another_reset_do_not_decode_in_this_one(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """The attacker resets their own GCKey the proper way, copies the encrypted "passed" and
    new password out of that history, and sends them to a reset of the victim's GCKey (one
    anybody can start from the site with the victim's username). Each payload is bound to
    the workflow it was encrypted for, so the copy is refused."""
    attacker = keyless(client)
    resets = Resets(client, settings)
    async with new_worker(client, settings):
        own = await to_portal(client, settings, smtp, new_username())
        username = new_username()
        victim = await to_portal(client, settings, smtp, username)
        before = password_of(settings, username)
        questions = ["first_pet", "first_school", "childhood_street"]

        own_reset = await resets.start(journey_id_of(own.id), questions, "en")
        handle: Reset = client.get_workflow_handle_for(PasswordResetWorkflow.run, own_reset)
        await handle.execute_update(
            PasswordResetWorkflow.choose_way, ChooseResetWayInput(ResetWay.ALL_ANSWERS)
        )
        await handle.execute_update(
            PasswordResetWorkflow.record_verification, RecordVerificationInput(True)
        )
        await handle.execute_update(
            PasswordResetWorkflow.set_new_password,
            SetNewPasswordInput(await hash_password(HIJACK)),
        )
        copied: dict[str, Payload] = {}
        for event in (await handle.fetch_history()).events:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name:
                copied[request.input.name] = request.input.args.payloads[0]
        assert copied["set_new_password"].metadata["encoding"] == b"binary/encrypted"

        victims_reset = await resets.start(journey_id_of(victim.id), questions, "en")
        victims: Reset = client.get_workflow_handle_for(PasswordResetWorkflow.run, victims_reset)
        await victims.execute_update(
            PasswordResetWorkflow.choose_way, ChooseResetWayInput(ResetWay.ALL_ANSWERS)
        )
        target = attacker.get_workflow_handle(victims_reset)
        copies = [
            await answered(target, name, RawValue(copied[name]))
            for name in ("record_verification", "set_new_password")
        ]

        after = password_of(settings, username)
        assert after == before and not verify_secret(after, HIJACK)
        assert (await victim.query(OnboardingWorkflow.journey)).password_reset_at is None
        assert copies == [False, False]
        await stuck(client, victims_reset)
        await client.get_workflow_handle(victims_reset).terminate("refused: test over")


async def test_a_forged_signal_cannot_end_a_lock_and_staff_see_the_journey_stuck(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """A locked GCKey (five wrong passwords) would be unlocked by the signal a finished reset
    sends. Forged, in plain JSON or encrypted by the codec server for no workflow, it is
    refused; the journey stands still and staff are told, in English and in French."""
    attacker = keyless(client)
    async with new_worker(client, settings):
        victim = await to_portal(client, settings, smtp, new_username())
        for _ in range(settings.lock_after_failures):
            await victim.execute_update(OnboardingWorkflow.record_sign_in, RecordSignInInput(False))
        assert (await at_portal(victim)).locked_until is not None
        forged = attacker.get_workflow_handle(victim.id)
        unbound = EncryptionCodec(settings.payload_ring).encrypt(
            Payload(metadata={"encoding": b"json/plain"}, data=b'{"reset_workflow_id":"x"}')
        )
        await forged.signal("password_reset", RawValue(unbound))
        await forged.signal("password_reset", {"reset_workflow_id": "password-reset-forged"})
        await stuck(client, victim.id)
        types = await event_types(client, victim.id)
        signalled = types.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED not in types[signalled:]

        journey_id = journey_id_of(victim.id)
        async with staff_signed_in(settings, client) as b:
            page = await b.get(f"/en/staff/journeys/{journey_id}")
            reasons = page.text(".stuck-reasons")
            assert "The worker refuses what was last sent to this journey" in reasons
            french = await b.get(f"/fr/staff/journeys/{journey_id}")
            assert "Le travailleur refuse ce qui a été envoyé en dernier" in french.text(
                ".stuck-reasons"
            )

            # The list knows it too, from Temporal's own TemporalReportedProblems: one call.
            async def listed_as_refused() -> bool:
                page = await b.get("/en/staff/journeys?stuck=1")
                row = page.texts(f'tr[data-journey="{journey_id}"] .stuck li')
                return any(r.startswith("The worker refuses what was last sent") for r in row)

            await until(listed_as_refused, what="the refused journey in the stuck list")
            timeline = await b.get(f"/en/staff/journeys/{journey_id}/timeline")
            told = timeline.texts("table.timeline tbody td:nth-child(2)")
            assert f"The worker refused to go on, and keeps retrying: {NOT_BOUND}" in told
        await victim.terminate("refused: test over")
