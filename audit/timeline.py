"""A journey's event history as a timeline in plain words.

Payloads are decoded with the default data converter to plain JSON values, never to the
workflow's dataclasses, so a history recorded by older code still reads. Hashes are in history
(the password and the recovery answers arrive hashed); they are dropped on decoding and never
shown. Rejected updates never reach history, so there is nothing to tell of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import WorkflowHistory
from temporalio.converter import default

from audit import messages as m
from audit.messages import Msg, Value
from workflows.rules import format_urn

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
REMINDER = "reminder"
EMAIL_ACTIVITY = "send_confirmation_email"
LINK_TIMER_SLACK = timedelta(minutes=1)
WORKER_FAILED = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: when, what, and the event it was read from."""

    at: datetime
    says: Msg
    event_id: int


Fields = dict[str, Any]


def is_secret(key: str) -> bool:
    return key.endswith("_hash") or key in ("password", "answer", "secret", "token")


def redact(value: Any) -> Any:
    """The value without any hash or secret, however deeply nested."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if not is_secret(str(k))}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def decode(payloads: Payloads | Iterable[Any]) -> Fields:
    """The first payload as a dict of plain JSON values, hashes dropped; {} if unreadable."""
    items = list(payloads.payloads if isinstance(payloads, Payloads) else payloads)
    if not items:
        return {}
    try:
        value = default().payload_converter.from_payloads(items)[0]
    except Exception:  # noqa: BLE001  (an unreadable payload is told generically, not fatal)
        return {}
    value = redact(value)
    return value if isinstance(value, dict) else {"value": value}


def flat(fields: Mapping[str, Any]) -> Fields:
    """Nested records lifted one level (``profile.email`` is read as ``email``)."""
    out: Fields = {k: v for k, v in fields.items() if not isinstance(v, dict)}
    for value in fields.values():
        if isinstance(value, dict):
            for inner, v in value.items():
                out.setdefault(inner, v)
    return out


def shown(key: str, value: Any) -> Value:
    """A field's value as the timeline shows it: names of languages and login methods
    translated, URNs grouped."""
    if isinstance(value, Msg | tuple):
        return value
    if key in ("language", "terms_language") and value in m.LANGUAGE_NAMES:
        return Msg(m.LANGUAGE_NAMES[value])
    if key in ("login_method", "default_access") and value in m.LOGIN_METHODS:
        return Msg(m.LOGIN_METHODS[value])
    if key == "urn" and isinstance(value, str) and len(value) == 10:
        return format_urn(value)
    if isinstance(value, list):
        return str(len(value))
    return "" if value is None else str(value)


def told(msgid: str | None, fields: Mapping[str, Any]) -> Msg | None:
    """The message with its placeholders filled, or None if a field it needs is missing."""
    if msgid is None:
        return None
    names = PLACEHOLDER.findall(msgid)
    if any(n not in fields for n in names):
        return None
    return Msg(msgid, {n: shown(n, fields[n]) for n in names})


def details(fields: Mapping[str, Any]) -> str:
    return "; ".join(
        f"{k}: {v}" for k, v in flat(fields).items() if isinstance(v, str | int | float) and v != ""
    )


def variants(name: str, fields: Fields) -> list[str]:
    """The table keys that may tell this message, most specific first."""
    keys = [name]
    if isinstance(fields.get("outcome"), str):
        keys.insert(0, f"{name}:{fields['outcome']}")
    if name in ("record_sign_in", "sign_in_decided") and fields.get("locked_now"):
        keys.insert(0, f"{name}:locked_now")
    if name == "answer_terms":
        keys.insert(0, f"{name}:{'accepted' if fields.get('accepted') else 'declined'}")
    if name == "set_recovery_email" and not fields.get("email"):
        keys.insert(0, f"{name}:skipped")
    return keys


def journey_message(name: str, fields: Fields, refused: Value | None = None) -> Msg:
    """An update or signal in plain words; a support action says who and why."""
    fields = flat(fields)
    if "answers" in fields:
        fields["count"] = len(fields["answers"])
    if refused is not None:
        said = told(m.says(f"{name}:refused"), {**fields, "why": refused})
        return said or Msg(m.REFUSED, {"name": name, "why": refused})
    said = told(m.says(*variants(name, fields)), fields)
    if said is None and details(fields):
        said = Msg(m.UNKNOWN_MESSAGE, {"name": name, "details": details(fields)})
    elif said is None:
        said = Msg(m.UNKNOWN_MESSAGE_BARE, {"name": name})
    if "staff" in fields and "reason" in fields:
        reason: Value = str(fields["reason"]) or Msg(m.NO_REASON)
        values: dict[str, Value] = {"action": said, "staff": str(fields["staff"]), "reason": reason}
        said = Msg(m.SUPPORT_ACTION, values)
    return said


def failure_text(failure: Failure) -> Value:
    """A failure as the timeline shows it: the rule's own message when a rule was broken."""
    info = failure.application_failure_info
    if failure.HasField("application_failure_info") and info.HasField("details"):
        problems = decode(info.details)
        msgids = [p for v in problems.values() if isinstance(v, list) for p in v]
        if msgids and all(isinstance(p, str) for p in msgids):
            return tuple(Msg(p) for p in msgids)
    return failure.message


def when(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


class _Reader:
    """Walks the events once, pairing each outcome with the event that began it."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.updates: dict[int, tuple[str, Fields, HistoryEvent]] = {}
        self.activities: dict[int, tuple[str, Fields]] = {}
        self.activity_ids: dict[str, tuple[str, Fields]] = {}
        self.attempts: dict[int, tuple[int, str]] = {}
        self.link_expires_at: datetime | None = None
        self.link_number: Any = None
        self.timer_fired: HistoryEvent | None = None
        self.task_completed: int | None = None

    def add(self, event: HistoryEvent, says: Msg) -> None:
        self.entries.append(Entry(when(event.event_time), says, event.event_id))

    def read(self, event: HistoryEvent) -> None:
        kind = event.WhichOneof("attributes") or ""
        handler = getattr(self, f"on_{kind.removesuffix('_event_attributes')}", None)
        if handler is not None:
            handler(event)

    def on_workflow_execution_started(self, event: HistoryEvent) -> None:
        fields = decode(event.workflow_execution_started_event_attributes.input)
        said = told(m.says("started:rules"), fields) if fields.get("rules_version") else None
        self.add(event, said or Msg(m.SAYS["started"]))

    def on_workflow_execution_update_accepted(self, event: HistoryEvent) -> None:
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        self.updates[event.event_id] = (request.input.name, decode(request.input.args), event)

    def on_workflow_execution_update_completed(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_update_completed_event_attributes
        name, fields, accepted = self.updates.pop(attrs.accepted_event_id, ("", {}, event))
        if not name:
            return
        # Told at the time the person's input arrived, once it is known to have been taken.
        if attrs.outcome.HasField("failure"):
            self.add(accepted, journey_message(name, fields, failure_text(attrs.outcome.failure)))
        else:
            result = decode(attrs.outcome.success)
            self.add(accepted, journey_message(name, {**result, **fields}))

    def on_workflow_execution_signaled(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_signaled_event_attributes
        self.add(event, journey_message(attrs.signal_name, decode(attrs.input)))

    def on_marker_recorded(self, event: HistoryEvent) -> None:
        attrs = event.marker_recorded_event_attributes
        if "data" not in attrs.details or attrs.HasField("failure"):
            return  # a local activity that failed: the update that ran it tells why
        data = decode(attrs.details["data"])
        activity = str(data.get("activity_type", ""))
        result = decode(attrs.details["result"]) if "result" in attrs.details else {}
        said = told(m.says(f"local:{activity}"), result)
        if said is not None:
            self.add(event, said)

    def on_activity_task_scheduled(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        fields = flat(decode(attrs.input))
        self.activities[event.event_id] = (attrs.activity_type.name, fields)
        self.activity_ids[attrs.activity_id] = (attrs.activity_type.name, fields)
        if attrs.activity_type.name == EMAIL_ACTIVITY and "expires_at" in fields:
            self.link_expires_at = datetime.fromisoformat(str(fields["expires_at"]))
            self.link_number = fields.get("link_number")
        if self.task_completed == attrs.workflow_task_completed_event_id:
            if fields.get("kind") == REMINDER:
                self.timer_fired = None  # the reminder's timer: the reminder tells it

    def on_activity_task_started(self, event: HistoryEvent) -> None:
        # Written when the activity closes, with the final attempt and the last failure.
        attrs = event.activity_task_started_event_attributes
        self.attempts[attrs.scheduled_event_id] = (attrs.attempt, attrs.last_failure.message)

    def on_activity_task_completed(self, event: HistoryEvent) -> None:
        scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
        name, fields = self.activities.pop(scheduled, ("", {}))
        kind = fields.get("kind", "")
        said = told(m.says(f"activity:{name}:{kind}", f"activity:{name}"), fields)
        said = said or Msg(m.UNKNOWN_TASK, {"name": name})
        attempt, failure = self.attempts.get(scheduled, (1, ""))
        if attempt > 1:
            said = Msg(m.RETRIED, {"action": said, "attempts": str(attempt), "failure": failure})
        self.add(event, said)

    def _activity_failed(self, event: HistoryEvent, scheduled: int, failure: Value) -> None:
        name, fields = self.activities.pop(scheduled, ("", {}))
        fields = {**fields, "failure": failure, "name": name}
        said = told(m.says(f"activity:{name}:failed"), fields) or Msg(
            m.TASK_FAILED, {"name": name, "failure": failure}
        )
        self.add(event, said)

    def on_activity_task_failed(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_failed_event_attributes
        self._activity_failed(event, attrs.scheduled_event_id, failure_text(attrs.failure))

    def on_activity_task_timed_out(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_timed_out_event_attributes
        self._activity_failed(event, attrs.scheduled_event_id, failure_text(attrs.failure))

    def on_timer_fired(self, event: HistoryEvent) -> None:
        self.flush_timer()
        self.timer_fired = event

    def on_workflow_task_completed(self, event: HistoryEvent) -> None:
        # A fired timer is told once the commands that answered it are seen: a reminder
        # scheduled right after it means it was the reminder's timer.
        self.task_completed = event.event_id if self.timer_fired else None

    def on_workflow_task_scheduled(self, event: HistoryEvent) -> None:
        if self.task_completed is not None:
            self.flush_timer()

    def flush_timer(self) -> None:
        event, self.timer_fired, self.task_completed = self.timer_fired, None, None
        if event is None:
            return
        # The link's own timer fires at its expiry, give or take the workflow task that
        # started it; any other timer (a reminder, a GCKey unused for years) is another wait.
        expires = self.link_expires_at
        fired = when(event.event_time)
        if expires is not None and expires <= fired <= expires + LINK_TIMER_SLACK:
            self.add(
                event, Msg(m.SAYS["timer:link_expired"], {"link_number": str(self.link_number)})
            )
        else:
            self.add(event, Msg(m.SAYS["timer"]))

    def on_workflow_execution_completed(self, event: HistoryEvent) -> None:
        self.flush_timer()
        result = decode(event.workflow_execution_completed_event_attributes.result)
        step = str(result.get("step", ""))
        self.add(
            event,
            told(m.says(f"completed:{step}"), result) or Msg(m.SAYS["completed"], {"step": step}),
        )

    def on_workflow_execution_failed(self, event: HistoryEvent) -> None:
        failure = failure_text(event.workflow_execution_failed_event_attributes.failure)
        self.add(event, Msg(m.SAYS["failed"], {"failure": failure}))

    def on_workflow_execution_terminated(self, event: HistoryEvent) -> None:
        reason = event.workflow_execution_terminated_event_attributes.reason
        self.add(event, Msg(m.SAYS["terminated"], {"reason": reason or Msg(m.NO_REASON)}))

    def on_workflow_execution_cancel_requested(self, event: HistoryEvent) -> None:
        self.add(event, Msg(m.SAYS["cancel_requested"]))

    def on_workflow_execution_canceled(self, event: HistoryEvent) -> None:
        self.add(event, Msg(m.SAYS["cancelled"]))

    def on_workflow_execution_timed_out(self, event: HistoryEvent) -> None:
        self.add(event, Msg(m.SAYS["timed_out"]))

    def on_workflow_task_failed(self, event: HistoryEvent) -> None:
        attrs = event.workflow_task_failed_event_attributes
        # Temporal itself fails a task now and then (a message arriving as it completed, a
        # reset); only a failure the worker reported is news.
        if attrs.cause == WORKER_FAILED:
            self.add(event, Msg(m.SAYS["worker_failed"], {"failure": failure_text(attrs.failure)}))

    def on_workflow_execution_continued_as_new(self, event: HistoryEvent) -> None:
        self.add(event, Msg(m.SAYS["continued_as_new"]))

    def finish(self, pending: Sequence[PendingActivityInfo], now: datetime) -> list[Entry]:
        self.flush_timer()
        for name, fields, accepted in self.updates.values():
            self.add(accepted, Msg(m.IN_PROGRESS, {"action": journey_message(name, fields)}))
        # Pending work is told after everything history holds.
        last = max((e.event_id for e in self.entries), default=0)
        for info in pending:
            name, fields = self.activity_ids.get(info.activity_id, (info.activity_type.name, {}))
            fields = {**fields, "attempt": info.attempt, "failure": info.last_failure.message}
            fallback = Msg(
                m.TASK_PENDING,
                {"name": name, "attempt": str(info.attempt), "failure": info.last_failure.message},
            )
            kind = fields.get("kind", "")
            said = told(m.says(f"activity:{name}:{kind}:pending"), fields) or fallback
            at = info.last_attempt_complete_time
            moment = when(at) if info.HasField("last_attempt_complete_time") else now
            self.entries.append(Entry(moment, said, last))
        return sorted(self.entries, key=lambda e: (e.event_id, e.at))


def build_timeline(
    history: WorkflowHistory,
    pending: Sequence[PendingActivityInfo] = (),
    now: datetime | None = None,
) -> list[Entry]:
    """The journey's timeline, oldest first. ``pending`` are the activities a running journey's
    description lists: their failed attempts are not in history until the activity closes."""
    reader = _Reader()
    for event in history.events:
        reader.read(event)
    return reader.finish(pending, now or datetime.now(UTC))
