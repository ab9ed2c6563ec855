"""What the staff pages read from Temporal: the journey list from visibility (filtered on the
search attributes of workflows/search.py; a page, its rows and "stuck only" in one visibility
call), and each journey's description and state for its own page."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError

from web.journeys import Journeys, ListPageGone, journey_id_of
from web.staff.stuck import PendingActivity, Stuck, last_progress_of, stuck_query, stuck_reasons
from web.temporal import TemporalUnavailable
from workflows import search
from workflows.onboarding import OnboardingWorkflow
from workflows.rules import N_
from workflows.search import JourneyStatus
from workflows.types import JourneyState, LoginMethod, Step

PAGE_SIZE = 20


@dataclass(frozen=True)
class Filters:
    """The list's filters, each already checked against the values it may take."""

    step: str = ""
    status: str = ""
    login_method: str = ""
    idle_hours: float | None = None  # no progress for more than this
    stuck: bool = False

    @classmethod
    def parse(
        cls, step: str, status: str, login_method: str, idle_hours: str, stuck: str
    ) -> tuple[Filters, dict[str, list[str]]]:
        """The filters, and for each bad one its field's messages (English msgids)."""
        errors: dict[str, list[str]] = {}
        hours: float | None = None
        if idle_hours.strip():
            try:
                hours = float(idle_hours.replace(",", "."))
            except ValueError:
                hours = None
            if hours is None or not 0 < hours < 24 * 365 * 10:
                errors["idle_hours"] = [ENTER_HOURS]
                hours = None
        return (
            cls(
                step=step if step in set(Step) else "",
                status=status if status in set(JourneyStatus) else "",
                login_method=login_method if login_method in set(LoginMethod) else "",
                idle_hours=hours,
                stuck=stuck == "1",
            ),
            errors,
        )

    def query(self, task_queue: str, now: datetime, stuck_after: timedelta) -> str:
        """The visibility query. Every value is one of a closed set or a number, so nothing a
        person types ends up inside it except through these checks."""
        # This service's journeys: its workflow type on its task queue.
        parts = [
            f"WorkflowType = '{OnboardingWorkflow.__name__}'",
            f"TaskQueue = '{task_queue.replace(chr(39), '')}'",
        ]
        if self.step:
            parts.append(f"{search.STEP.name} = '{self.step}'")
        if self.status:
            parts.append(f"{search.STATUS.name} = '{self.status}'")
        if self.login_method:
            parts.append(f"{search.LOGIN_METHOD.name} = '{self.login_method}'")
        if self.idle_hours is not None:
            cutoff = (now - timedelta(hours=self.idle_hours)).isoformat()
            parts.append(f"{search.LAST_PROGRESS.name} < '{cutoff}'")
        if self.stuck:
            parts.append(f"({stuck_query(now, stuck_after)})")
        return " AND ".join(parts)


ENTER_HOURS = N_("Enter a number of hours greater than 0.")


@dataclass
class JourneyRow:
    """A journey as the staff pages show it; a blank value is one the journey never set."""

    journey_id: str
    run_id: str
    running: bool
    execution_status: str
    started_at: datetime | None
    closed_at: datetime | None
    step: str | None
    login_method: str | None
    status: str | None
    last_progress: datetime | None
    deadline: datetime | None
    email_failing: bool = False
    mail_refused: bool = False
    locked_until: datetime | None = None
    reported_problems: bool = False
    pending: list[PendingActivity] = field(default_factory=list)
    workflow_task_attempt: int = 0  # of the workflow task Temporal is waiting on, if any
    state: JourneyState | None = None
    stuck: list[Stuck] = field(default_factory=list)


@dataclass
class ListPage:
    rows: list[JourneyRow]
    next_token: str  # "" on the last page
    number: int = 1  # of this page, counted from the first


# The page token rides in the address; signed, so only a token this site handed out reaches
# Temporal (a forged one made its visibility store fail, and the page answered 500).
PAGE_SALT = "cers-staff-list-page"


def encode_token(secret_key: str, token: bytes | None, number: int) -> str:
    """The address's ``page``: visibility's token for the page and the page's number."""
    if not token:
        return ""
    page = {"n": number, "t": base64.b64encode(token).decode()}
    return str(URLSafeSerializer(secret_key, salt=PAGE_SALT).dumps(page))


def decode_token(secret_key: str, text: str) -> tuple[bytes | None, int]:
    """The token of the page asked for and its number; (None, 1) for the first. ListPageGone
    if it is not one this site made."""
    if not text:
        return None, 1
    try:
        page = URLSafeSerializer(secret_key, salt=PAGE_SALT).loads(text)
        if isinstance(page, dict) and isinstance(page.get("t"), str):
            number = page.get("n")
            if isinstance(number, int) and number > 1:
                return base64.b64decode(page["t"], validate=True), number
    except (BadSignature, binascii.Error, ValueError, TypeError):
        pass
    raise ListPageGone


def row_from(
    workflow_id: str,
    run_id: str,
    status: WorkflowExecutionStatus | None,
    started_at: datetime | None,
    closed_at: datetime | None,
    attributes: TypedSearchAttributes,
    reported: bool = False,
) -> JourneyRow:
    return JourneyRow(
        journey_id=journey_id_of(workflow_id),
        run_id=run_id,
        running=status is WorkflowExecutionStatus.RUNNING,
        execution_status=status.name.lower() if status else "",
        started_at=started_at,
        closed_at=closed_at,
        step=attributes.get(search.STEP),
        login_method=attributes.get(search.LOGIN_METHOD),
        status=attributes.get(search.STATUS),
        last_progress=attributes.get(search.LAST_PROGRESS),
        deadline=attributes.get(search.DEADLINE),
        email_failing=bool(attributes.get(search.EMAIL_FAILING)),
        mail_refused=bool(attributes.get(search.MAIL_REFUSED)),
        locked_until=attributes.get(search.LOCKED_UNTIL),
        reported_problems=reported,
    )


class StaffReader:
    """The staff pages' reads, through the journey gateway (which owns the deadlines)."""

    def __init__(self, journeys: Journeys) -> None:
        self.journeys = journeys
        self.settings = journeys.settings
        self.stuck_after = timedelta(hours=self.settings.stuck_after_hours)

    async def page(self, filters: Filters, token: str, now: datetime) -> ListPage:
        """One page of the list: one visibility call, its rows and their stuck reasons from
        the search attributes alone."""
        query = filters.query(self.settings.task_queue, now, self.stuck_after)
        secret_key = self.settings.secret_key.get_secret_value()
        page_token, number = decode_token(secret_key, token)
        listed, next_token = await self.journeys.list_page(query, PAGE_SIZE, page_token)
        rows = []
        for w in listed:
            reported = reported_problems(w.typed_search_attributes)
            row = row_from(
                w.id,
                w.run_id,
                w.status,
                w.start_time,
                w.close_time,
                w.typed_search_attributes,
                reported,
            )
            self._judge(row, now)
            rows.append(row)
        return ListPage(rows, encode_token(secret_key, next_token, number + 1), number)

    async def journey(self, journey_id: str, now: datetime) -> JourneyRow | None:
        """One journey's description and state; None if Temporal does not know it."""
        described = await self.journeys.describe(journey_id)
        if described is None:
            return None
        row = row_from(
            described.id,
            described.run_id,
            described.status,
            described.start_time,
            described.close_time,
            described.typed_search_attributes,
        )
        row.reported_problems = reported_problems(described.typed_search_attributes)
        row.pending = pending_of(described.raw_description.pending_activities)
        row.workflow_task_attempt = described.raw_description.pending_workflow_task.attempt
        try:  # a closed journey is replayed to answer; one that cannot is shown without it
            row.state = await self.journeys.state(
                described.id, timedelta(seconds=self.settings.temporal_rpc_timeout_seconds)
            )
        except (TemporalUnavailable, RPCError, WorkflowQueryFailedError):
            row.state = None
        if row.last_progress is None:
            row.last_progress = last_progress_of(row.state)
        if row.step is None and row.state is not None:
            row.step = row.state.step.value
        self._judge(row, now)
        return row

    def _judge(self, row: JourneyRow, now: datetime) -> None:
        row.stuck = stuck_reasons(
            now=now,
            stuck_after=self.stuck_after,
            running=row.running,
            step=row.step,
            status=row.status,
            last_progress=row.last_progress,
            pending=row.pending,
            state=row.state,
            deadline=row.deadline,
            workflow_task_attempt=row.workflow_task_attempt,
            email_failing=row.email_failing,
            mail_refused=row.mail_refused,
            locked_until=row.locked_until,
            reported_problems=row.reported_problems,
        )


def reported_problems(attributes: TypedSearchAttributes) -> bool:
    """Temporal's own report that the journey's workflow task keeps failing."""
    return any(pair.key.name == search.REPORTED_PROBLEMS for pair in attributes)


def pending_of(infos: Iterable[PendingActivityInfo]) -> list[PendingActivity]:
    pending = []
    for info in infos:
        next_at = (
            info.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
            if info.HasField("next_attempt_schedule_time")
            else None
        )
        failure = info.last_failure.message if info.HasField("last_failure") else ""
        pending.append(PendingActivity(info.activity_type.name, info.attempt, failure, next_at))
    return pending
