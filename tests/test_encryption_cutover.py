"""The cut-over, as a deployment lives it on the real server: journeys started by the code
before encryption (no codec at all), the new worker with the window open, `python -m audit
cut-over`, then the window closed and the journeys finished by the strict worker: the one
holding a password hash in memory, and the one waiting on the e-mail it was already sent."""

from __future__ import annotations

import io

from temporalio.client import Client
from temporalio.converter import DataConverter

from activities.archive import canonical_json
from audit.cutover import cut_over, running
from audit.replay import replay
from audit.sources import RunHistory, Source
from core.hashing import hash_answers, hash_password, verify_secret
from core.temporal import data_converter
from db.engine import make_engine
from db.queries import issued_gckey
from settings import Settings
from tests.conftest import MailCatcher, history_bytes, reader, until
from tests.journeys import (
    ANSWERS,
    HINTS,
    PASSWORD,
    QUESTION_IDS,
    at_portal,
    begin,
    create_account,
    journey_handle,
    link_number_in,
    new_address,
    new_username,
    sign_up,
)
from worker import running_worker
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    AnswerTermsInput,
    ChooseUsernameInput,
    ConfirmEmailInput,
    RecoveryAnswer,
    SetPasswordInput,
    SetRecoveryAnswersInput,
    SetRecoveryEmailInput,
    Step,
)


def before_encryption(client: Client) -> Client:
    """The client the code before this change made: no codec, plain JSON payloads."""
    return Client(client.service_client, namespace=client.namespace, data_converter=DataConverter())


def in_the_window(client: Client, settings: Settings) -> Client:
    converter = data_converter(settings.payload_ring, accept_plaintext=True)
    return Client(client.service_client, namespace=client.namespace, data_converter=converter)


async def test_journeys_running_at_the_cut_over_move_to_encrypted_history_and_finish(
    client: Client, settings: Settings, smtp: MailCatcher
) -> None:
    plain = before_encryption(client)
    mid_sign_up, waiting = new_username(), new_username()
    address = new_address()
    async with running_worker(plain, settings):
        first = await begin(plain, settings)
        handle = journey_handle(plain, first)
        await handle.execute_update(
            OnboardingWorkflow.answer_terms, AnswerTermsInput(True, settings.terms_version)
        )
        await handle.execute_update(
            OnboardingWorkflow.choose_username, ChooseUsernameInput(mid_sign_up)
        )
        # The password's hash now lives only in the running workflow, until the GCKey issues.
        await handle.execute_update(
            OnboardingWorkflow.set_password, SetPasswordInput(await hash_password(PASSWORD))
        )
        second = await begin(plain, settings)
        await sign_up(plain, second, waiting)
        await create_account(journey_handle(plain, second), address)
        (message,) = await smtp.wait_for(address)
    before = history_bytes(await plain.get_workflow_handle(second).fetch_history())
    assert waiting.encode() in before and address.encode() in before  # what the issue found

    window = in_the_window(client, settings)
    async with running_worker(window, settings):
        out = io.StringIO()
        assert await cut_over(window, settings.task_queue, out, check=False, operator="ops") == 1
        assert f"MOVING {first}" in out.getvalue() and f"MOVING {second}" in out.getvalue()

        async def moved() -> bool:
            return not [w async for w in running(window, settings.task_queue) if w.plain]

        await until(moved, what="both journeys on encrypted history")
        out = io.StringIO()
        assert await cut_over(window, settings.task_queue, out, check=True, operator="ops") == 0
        assert out.getvalue().endswith("2 on encrypted history, 0 on plain history\n")

    # The window closed: the worker refuses anything plain, and the journeys go on.
    async with running_worker(client, settings):
        handle = journey_handle(client, first)
        answers = await hash_answers(ANSWERS)
        await handle.execute_update(
            OnboardingWorkflow.set_recovery_answers,
            SetRecoveryAnswersInput(
                [
                    RecoveryAnswer(q, h, n)
                    for q, h, n in zip(QUESTION_IDS, answers, HINTS, strict=True)
                ]
            ),
        )
        await handle.execute_update(
            OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput("")
        )
        second_handle = journey_handle(client, second)
        link = link_number_in(message, settings.secret_key.get_secret_value())
        await second_handle.execute_update(
            OnboardingWorkflow.confirm_email, ConfirmEmailInput(link)
        )
        assert (await at_portal(second_handle)).step is Step.PORTAL
        state = await handle.query(OnboardingWorkflow.journey)
        assert state.step is Step.CREATE_ACCOUNT

    engine = make_engine(settings.sqlalchemy_url)
    try:
        gckey = issued_gckey(engine, mid_sign_up)
    finally:
        engine.dispose()
    # The GCKey was issued with the password set before the cut-over, carried across it.
    assert gckey is not None and gckey.password_hash is not None
    assert verify_secret(gckey.password_hash, PASSWORD)
    assert len(smtp.to(address)) == 1  # the move did not send the confirmation again

    for workflow_id, secrets in ((first, [mid_sign_up]), (second, [waiting, address])):
        runs: list[RunHistory] = []
        run_id = ""
        while True:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            runs.insert(0, RunHistory(history, run_id, Source.TEMPORAL, canonical_json(history)))
            started = history.events[0].workflow_execution_started_event_attributes
            if not started.continued_execution_run_id:
                break
            run_id = started.continued_execution_run_id
        assert len(runs) == 2  # the plain run before the cut-over, the encrypted one after
        outcomes = await replay(runs, settings.payload_ring, keys=reader(client).keys)
        assert all(o.passed for o in outcomes), [o.error for o in outcomes]
        latest = history_bytes(runs[-1].history)
        for secret in secrets:
            assert secret.encode() not in latest, secret
