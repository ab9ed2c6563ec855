"""A journey's history told in plain words, in English and French, from the committed
histories and from events shaped as later code and support staff will write them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import ActivityType, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.history.v1 import (
    HistoryEvent,
    WorkflowExecutionUpdateAcceptedEventAttributes,
    WorkflowExecutionUpdateCompletedEventAttributes,
)
from temporalio.api.update.v1 import Input, Outcome, Request
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import WorkflowHistory
from temporalio.converter import default

from audit import messages as m
from audit.messages import Msg
from audit.timeline import build_timeline, decode
from core.languages import LANGUAGES
from i18n import translations
from workflows import rules
from workflows.types import FINISHED_STEPS, Step

HISTORIES = Path(__file__).parent / "histories"


def history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())


def said(h: WorkflowHistory, lang: str = "en", **kwargs: Any) -> list[str]:
    gettext: Callable[[str], str] = translations(lang).gettext
    return [entry.says.render(gettext) for entry in build_timeline(h, **kwargs)]


def payloads(value: Any) -> Payloads:
    return Payloads(payloads=default().payload_converter.to_payloads([value]))


def with_update(
    h: WorkflowHistory, name: str, args: Any, outcome: Outcome | None = None
) -> WorkflowHistory:
    """The history with an update as the server records it: accepted with its input, then
    completed."""
    last = h.events[-1]
    accepted = HistoryEvent(
        event_id=last.event_id + 1,
        event_time=Timestamp(seconds=last.event_time.seconds + 60),
        event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        workflow_execution_update_accepted_event_attributes=(
            WorkflowExecutionUpdateAcceptedEventAttributes(
                accepted_request=Request(input=Input(name=name, args=payloads(args)))
            )
        ),
    )
    completed = HistoryEvent(
        event_id=last.event_id + 2,
        event_time=accepted.event_time,
        event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        workflow_execution_update_completed_event_attributes=(
            WorkflowExecutionUpdateCompletedEventAttributes(
                accepted_event_id=accepted.event_id,
                outcome=outcome or Outcome(success=payloads({})),
            )
        ),
    )
    return replace(h, events=[*h.events, accepted, completed])


def test_a_completed_journey_in_plain_words() -> None:
    lines = said(history("completed"))
    assert lines[:3] == [
        "Journey started.",
        "Login choice: GCKey, in French.",
        "Terms and conditions version 2024-07 accepted, read in English.",
    ]
    assert re.fullmatch(r"Username chosen: Histo\w+\.", lines[3])
    assert lines[4:8] == [
        "Password set.",
        "Recovery answers set: 3 questions.",
        "Recovery e-mail address set: recover@example.ca.",
        "GCKey issued.",
    ]
    assert lines[8] == (
        "Create User Account form sent: Marie Tremblay, completed@example.ca, "
        "time zone America/Toronto, preferred language English."
    )
    assert re.fullmatch(r"CERS user account created, URN \d{3} \d{3} \d{3} \d\.", lines[9])
    assert "Confirmation e-mail sent to completed@example.ca, link 1." in lines
    assert "E-mail address confirmed with link 1." in lines


def test_the_same_journey_in_french() -> None:
    lines = said(history("completed"), "fr")
    assert lines[:3] == [
        "Parcours commencé.",
        "Choix d'ouverture de session\u00a0: CléGC, en français.",
        "Conditions d'utilisation, version 2024-07, acceptées après lecture en anglais.",
    ]
    assert "Mot de passe créé." in lines
    assert "CléGC délivrée." in lines
    assert any(re.fullmatch(r"Compte d'utilisateur du SCDE créé, NRU [\d ]+\.", x) for x in lines)
    assert "Courriel de confirmation envoyé à completed@example.ca, lien 1." in lines


def test_hashes_are_in_history_but_never_in_the_timeline() -> None:
    for path in sorted(HISTORIES.glob("*.json")):
        h = history(path.stem)
        updates = [
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input
            for e in h.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        raw = [default().payload_converter.from_payloads(list(u.args.payloads)) for u in updates]
        decoded = [decode(u.args) for u in updates]
        for lang in ("en", "fr"):
            assert not any("argon2" in line for line in said(h, lang)), path.stem
        assert not any("hash" in str(d) for d in decoded)
        if path.stem == "completed":
            assert any("$argon2id$" in str(r) for r in raw)


def test_declined_terms_and_the_journey_that_ended() -> None:
    assert said(history("declined_terms"))[-2:] == [
        "Terms and conditions version 2024-07 declined, read in English.",
        "Journey ended: the terms and conditions were declined.",
    ]


@pytest.mark.parametrize("step", sorted(FINISHED_STEPS))
def test_a_journey_closed_at_a_finished_step_says_how_it_ended(step: Step) -> None:
    h = history("declined_terms")
    closed = h.events[-1].workflow_execution_completed_event_attributes
    closed.result.CopyFrom(payloads({"step": step.value, "urn": None}))
    for lang in LANGUAGES:
        generic = Msg(m.SAYS["completed"], {"step": step.value}).render(translations(lang).gettext)
        assert said(h, lang)[-1] != generic


def test_an_expired_link_then_a_new_one() -> None:
    lines = said(history("expired_then_new_link"))
    expired = lines.index("Confirmation link 1 expired.")
    assert lines[expired - 1] == "Confirmation e-mail sent to expired@example.ca, link 1."
    assert lines[expired + 1] == "New confirmation link requested: link 2."
    assert "Recovery e-mail address skipped." in lines
    assert "A waiting period ended." not in lines


def test_a_support_action_says_who_and_why_in_both_languages() -> None:
    h = history("expired_then_new_link")
    h = with_update(h, "extend_deadline", {"staff": "ana", "reason": "on holiday", "hours": 48})
    assert said(h)[-1] == "Confirmation deadline extended by 48 hours. By ana, because: on holiday"
    assert said(h, "fr")[-1] == (
        "Délai de confirmation prolongé de 48\u00a0heures. Par ana, motif\u00a0: on holiday"
    )


def test_an_update_the_table_does_not_know_is_still_told_without_its_secrets() -> None:
    h = history("declined_terms")
    h = with_update(h, "frobnicate", {"level": 3, "pin_hash": "$argon2id$v=19$x", "password": "x"})
    h = with_update(h, "tidy_up", {})
    assert said(h)[-2:] == ["Journey message frobnicate: level: 3", "Journey message tidy_up."]


def test_a_username_refused_inside_the_update_says_why() -> None:
    h = history("declined_terms")
    failure = Failure(
        message="invalid input",
        application_failure_info=ApplicationFailureInfo(
            type="InvalidInput", details=payloads({"username": [rules.USERNAME_TAKEN_MESSAGE]})
        ),
    )
    h = with_update(h, "choose_username", {"username": "Taken1"}, Outcome(failure=failure))
    english = rules.USERNAME_TAKEN_MESSAGE
    assert said(h)[-1] == f"Username Taken1 refused: {english}"
    french = translations("fr").gettext(english)
    assert french != english and said(h, "fr")[-1].endswith(french)


def test_e_mail_retries_show_on_the_final_event_and_pending_ones_from_the_description() -> None:
    h = history("completed")
    started = next(e for e in h.events if e.HasField("activity_task_started_event_attributes"))
    attrs = started.activity_task_started_event_attributes
    attrs.attempt = 3
    attrs.last_failure.message = "451 4.3.0 Mail server temporarily unavailable"
    assert (
        "Confirmation e-mail sent to completed@example.ca, link 1. It took 3 attempts; the last "
        "failure was: 451 4.3.0 Mail server temporarily unavailable"
    ) in said(h)

    running = history("completed")
    scheduled = next(
        e for e in running.events if e.HasField("activity_task_scheduled_event_attributes")
    )
    # The e-mail has not gone yet.
    running = replace(running, events=running.events[: scheduled.event_id])
    pending = PendingActivityInfo(
        activity_id=scheduled.activity_task_scheduled_event_attributes.activity_id,
        activity_type=ActivityType(name="send_confirmation_email"),
        attempt=2,
        last_failure=Failure(message="451 4.3.0 Mail server temporarily unavailable"),
    )
    assert said(running, pending=[pending])[-1] == (
        "Confirmation e-mail to completed@example.ca, link 1, not sent yet: attempt 2, "
        "last failure: 451 4.3.0 Mail server temporarily unavailable"
    )


def test_an_abandoned_sign_up_tells_its_rule_set_and_its_end_in_both_languages() -> None:
    """Recorded with the rule set version kept at the start (older histories say only
    "Journey started.", as above)."""
    lines = said(history("abandoned_at_password"))
    assert lines[0] == "Journey started, checked against rule set version 2026-12-01."
    assert lines[-2:] == [
        "Sign-up abandoned with no progress; its username is free for anyone again.",
        "Journey ended: the sign-up was abandoned, with no progress for too long.",
    ]
    french = said(history("abandoned_at_password"), "fr")
    assert french[0] == "Parcours commencé, vérifié selon les règles, version 2026-12-01."
    assert french[-1] == (
        "Parcours terminé\u00a0: l'inscription a été abandonnée, "
        "sans progrès depuis trop longtemps."
    )
