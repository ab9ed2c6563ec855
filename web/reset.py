"""GCKey "Forgot your password?": each attempt is a PasswordResetWorkflow.

What the person types (the code, the answers, the new password) is compared with or turned
into hashes here; the workflow only hears the verdicts and the new hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response
from temporalio.workflow import UpdateMethodMultiParam

from core.hashing import HASHER, hash_password, verify_secret
from core.normalize import normalize_answer, normalize_username, username_key
from db.queries import gckey_for, issued_gckey, newest_reset_code, recovery_answers
from web.deps import AppSettings, DbEngine, Lang, RateLimits, ResetService
from web.gckey import PasswordForm, password_problems
from web.guards import GoTo, goto, held_or_go
from web.pages import exporter_page, render
from web.resets import Resets
from web.session import SessionKey, held
from web.temporal import JourneyClosed, Rejected, StepRefused
from workflows import rules
from workflows.reset import PasswordResetWorkflow
from workflows.reset_types import (
    ChooseResetWayInput,
    RecordVerificationInput,
    ResetState,
    ResetStep,
    ResetWay,
    SetNewPasswordInput,
)

router = APIRouter(
    prefix="/{lang}/gckey/forgot-password",
    dependencies=[Depends(exporter_page)],
)
A = TypeVar("A")
R = TypeVar("R")
_DUMMY_HASH = HASHER.hash("not-a-code-or-answer-of-anyone")
NO_MATCH = rules.N_("The information you entered does not match our records.")
STEP_PAGES = {
    ResetStep.CHOOSE_WAY: "reset_way",
    ResetStep.VERIFY: "reset_verify",
    ResetStep.NEW_PASSWORD: "reset_password",
    ResetStep.DONE: "reset_done",
    ResetStep.FAILED: "reset_ended",
    ResetStep.EXPIRED: "reset_ended",
}


class UsernameForm(BaseModel):
    username: str = ""


class WayForm(BaseModel):
    way: str = ""


class VerifyForm(BaseModel):
    code: str = ""
    answer: list[str] = []


def reset_subject(engine: Engine, secret: str, username: str, count: int) -> tuple[str, list[str]]:
    """The journey whose GCKey is named and its recovery question ids. An unknown username
    gets the same number of questions, always the same ones for that username, so the pages
    that follow look alike; its reset can never succeed."""
    gckey = issued_gckey(engine, username)
    if gckey is not None and gckey.expired_at is None:
        return gckey.journey_id, [
            row.question_id for row in recovery_answers(engine, gckey.journey_id)
        ]
    seed = hmac.new(secret.encode(), username_key(username).encode(), hashlib.sha256)
    decoys = random.Random(seed.digest()).sample(sorted(rules.RECOVERY_QUESTIONS), count)
    return "", decoys


def verified(
    engine: Engine, reset_id: str, journey_id: str, code: str | None, answers: dict[str, str]
) -> bool:
    """Every check runs, matched or not, so the time taken tells nothing. Only the newest
    code sent for the GCKey works: a new attempt's code ends every earlier one's."""
    stored = {row.question_id: row.answer_hash for row in recovery_answers(engine, journey_id)}
    ok = bool(journey_id) and bool(answers)
    if code is not None:
        newest = newest_reset_code(engine, journey_id)
        current = newest if newest is not None and newest.reset_id == reset_id else None
        code_hash = current.code_hash if current is not None else _DUMMY_HASH
        ok = verify_secret(code_hash, code.strip()) and current is not None and ok
    for question_id, answer in answers.items():
        answer_hash = stored.get(question_id, _DUMMY_HASH)
        ok = verify_secret(answer_hash, normalize_answer(answer)) and ok
    return ok


async def reset_workflow_id(request: Request) -> str:
    """The reset this browser is going through."""
    return held_or_go(request, SessionKey.RESET, "forgot_password")


ResetId = Annotated[str, Depends(reset_workflow_id)]


async def reset_state(resets: ResetService, workflow_id: ResetId) -> ResetState:
    state = await resets.state(workflow_id)
    if state is None:
        raise GoTo("forgot_password")
    return state


def at(*steps: ResetStep) -> Callable[[ResetState], Awaitable[ResetState]]:
    """A dependency: the session's reset if it stands at one of ``steps``."""

    async def dependency(state: Annotated[ResetState, Depends(reset_state)]) -> ResetState:
        if state.step not in steps:
            raise GoTo(STEP_PAGES[state.step])
        return state

    return dependency


@router.get("", name="forgot_password")
async def username_page(request: Request, lang: Lang) -> Response:
    return render(request, "gckey/reset/username.html", lang=lang, username="", errors={})


@router.post("")
async def username_submit(
    request: Request,
    lang: Lang,
    settings: AppSettings,
    engine: DbEngine,
    resets: ResetService,
    limiter: RateLimits,
    form: Annotated[UsernameForm, Form()],
) -> Response:
    username = normalize_username(form.username)
    if not username:
        errors = {"username": [rules.N_("Enter your GCKey username.")]}
        return render(
            request,
            "gckey/reset/username.html",
            lang=lang,
            status_code=400,
            username="",
            errors=errors,
        )
    account = limiter.account(username)
    await limiter.hit(limiter.reset, request, account)
    journey_id, questions = await asyncio.to_thread(
        reset_subject,
        engine,
        settings.secret_key.get_secret_value(),
        username,
        settings.recovery_question_count,
    )
    request.session[SessionKey.RESET] = await resets.start(journey_id, questions, lang)
    request.session[SessionKey.RESET_JOURNEY] = journey_id
    # Codes are counted per username typed, known or not; only its keyed hash is kept.
    request.session[SessionKey.RESET_ACCOUNT] = account
    return goto(request, lang, "reset_way")


@router.get("/way", name="reset_way")
async def way_page(
    request: Request, lang: Lang, _: Annotated[ResetState, Depends(at(ResetStep.CHOOSE_WAY))]
) -> Response:
    return render(request, "gckey/reset/way.html", lang=lang, errors={})


@router.post("/way")
async def way_submit(
    request: Request,
    lang: Lang,
    resets: ResetService,
    limiter: RateLimits,
    workflow_id: ResetId,
    form: Annotated[WayForm, Form()],
) -> Response:
    if form.way not in set(ResetWay):
        errors = {"way": [rules.N_("Choose how you will confirm it is you.")]}
        return render(request, "gckey/reset/way.html", lang=lang, status_code=400, errors=errors)
    if form.way == ResetWay.EMAIL_CODE:
        account = held(request, SessionKey.RESET_ACCOUNT) or workflow_id
        await limiter.hit(limiter.reset_code, request, account)
    await send(
        resets,
        workflow_id,
        PasswordResetWorkflow.choose_way,
        ChooseResetWayInput(ResetWay(form.way)),
    )
    return goto(request, lang, "reset_verify")


def verify_page(
    request: Request, lang: str, state: ResetState, errors: dict[str, list[str]], left: int
) -> Response:
    return render(
        request,
        "gckey/reset/verify.html",
        lang=lang,
        status_code=400 if errors else 200,
        state=state,
        failures_left=left,
        questions=[rules.RECOVERY_QUESTIONS[q] for q in state.asked_question_ids],
        errors=errors,
    )


@router.get("/verify", name="reset_verify")
async def verify_form(
    request: Request, lang: Lang, state: Annotated[ResetState, Depends(at(ResetStep.VERIFY))]
) -> Response:
    return verify_page(request, lang, state, {}, state.failures_allowed - state.failures)


@router.post("/verify")
async def verify_submit(
    request: Request,
    lang: Lang,
    resets: ResetService,
    engine: DbEngine,
    workflow_id: ResetId,
    state: Annotated[ResetState, Depends(at(ResetStep.VERIFY))],
    form: Annotated[VerifyForm, Form()],
) -> Response:
    code = form.code if state.way is ResetWay.EMAIL_CODE else None
    asked = state.asked_question_ids
    answers = dict(zip(asked, (form.answer + [""] * len(asked))[: len(asked)], strict=True))
    passed = await asyncio.to_thread(
        verified,
        engine,
        state.reset_id,
        held(request, SessionKey.RESET_JOURNEY) or "",
        code,
        answers,
    )
    result = await send(
        resets,
        workflow_id,
        PasswordResetWorkflow.record_verification,
        RecordVerificationInput(passed),
    )
    if result.step is not ResetStep.VERIFY:
        return goto(request, lang, STEP_PAGES[result.step])
    return verify_page(request, lang, state, {"verify": [NO_MATCH]}, result.failures_left)


def new_password_page(
    request: Request,
    lang: str,
    checks: list[rules.Check],
    errors: dict[str, list[str]],
    username: str,
) -> Response:
    return render(
        request,
        "gckey/reset/new_password.html",
        lang=lang,
        status_code=400 if errors else 200,
        checks=checks,
        evaluated=bool(errors),
        errors=errors,
        username=username,
    )


def reset_username(request: Request, engine: DbEngine) -> str:
    gckey = gckey_for(engine, held(request, SessionKey.RESET_JOURNEY) or "")
    return gckey.username if gckey else ""


@router.get("/new-password", name="reset_password")
async def new_password_form(
    request: Request,
    lang: Lang,
    engine: DbEngine,
    _: Annotated[ResetState, Depends(at(ResetStep.NEW_PASSWORD))],
) -> Response:
    username = await asyncio.to_thread(reset_username, request, engine)
    return new_password_page(request, lang, rules.password_checks("", username, ""), {}, username)


@router.post("/new-password")
async def new_password_submit(
    request: Request,
    lang: Lang,
    resets: ResetService,
    engine: DbEngine,
    workflow_id: ResetId,
    _: Annotated[ResetState, Depends(at(ResetStep.NEW_PASSWORD))],
    form: Annotated[PasswordForm, Form()],
) -> Response:
    username = await asyncio.to_thread(reset_username, request, engine)
    checks, errors = password_problems(form, username)
    if not errors:
        try:
            result = await resets.submit(
                workflow_id,
                PasswordResetWorkflow.set_new_password,
                SetNewPasswordInput(await hash_password(form.password)),
            )
        except (StepRefused, JourneyClosed) as err:
            raise GoTo("reset_way") from err
        if not isinstance(result, Rejected):
            return goto(request, lang, "reset_done")
        errors = result.errors
    return new_password_page(request, lang, checks, errors, username)


@router.get("/done", name="reset_done")
async def done_page(
    request: Request, lang: Lang, _: Annotated[ResetState, Depends(at(ResetStep.DONE))]
) -> Response:
    request.session.pop(SessionKey.RESET, None)
    request.session.pop(SessionKey.RESET_JOURNEY, None)
    request.session.pop(SessionKey.RESET_ACCOUNT, None)
    return render(request, "gckey/reset/done.html", lang=lang)


@router.get("/ended", name="reset_ended")
async def ended_page(
    request: Request,
    lang: Lang,
    state: Annotated[ResetState, Depends(at(ResetStep.FAILED, ResetStep.EXPIRED))],
) -> Response:
    return render(request, "gckey/reset/ended.html", lang=lang, state=state, status_code=410)


async def send(
    resets: Resets,
    workflow_id: str,
    update: UpdateMethodMultiParam[[PasswordResetWorkflow, A], R],
    arg: A,
) -> R:
    """One step of the reset; a reset that moved on or ended shows where it stands."""
    try:
        return await resets.send(workflow_id, update, arg)
    except (StepRefused, JourneyClosed) as err:
        raise GoTo("reset_way") from err
