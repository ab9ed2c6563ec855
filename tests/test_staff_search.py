"""The journey's search attributes are one list: workflows/search.py, which the dev server, the
tests and the compose stack register (the stack's: tests/test_compose.py); and "stuck",
worked out from what Temporal says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from settings import Settings
from web.staff.stuck import PendingActivity, stuck_query, stuck_reasons
from workflows import search
from workflows.search import JourneyStatus
from workflows.types import ConfirmationStatus, JourneyState, Step

ROOT = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DAY = timedelta(hours=24)


def test_dev_run_registers_them_on_the_dev_server(settings: Settings) -> None:
    import dev

    command = dev.temporal_command(settings)
    pairs = [command[i + 1] for i, arg in enumerate(command) if arg == "--search-attribute"]
    assert pairs == [f"{name}={kind}" for name, kind in search.CLI_TYPES.items()]


def reasons(
    state: JourneyState | None = None,
    *,
    running: bool = True,
    step: str | None = Step.PASSWORD,
    status: str | None = JourneyStatus.IN_PROGRESS,
    idle: timedelta = timedelta(hours=1),
    pending: list[PendingActivity] | None = None,
    deadline: datetime | None = None,
) -> list[str]:
    found = stuck_reasons(
        now=NOW,
        stuck_after=DAY,
        running=running,
        step=step,
        status=status,
        last_progress=NOW - idle,
        pending=pending or [],
        state=state,
        deadline=deadline,
    )
    return [r.kind for r in found]


def test_an_open_journey_is_stuck_after_the_setting_without_progress() -> None:
    assert reasons(idle=DAY) == []
    assert reasons(idle=DAY + timedelta(seconds=1)) == ["no_progress"]
    # Nobody is expected to move a finished journey on, however long ago it moved.
    assert reasons(step=Step.PORTAL, status=JourneyStatus.COMPLETED, idle=9 * DAY) == []
    assert reasons(step=Step.DECLINED, status=None, idle=9 * DAY) == []
    assert reasons(step="cancelled", status=JourneyStatus.CANCELLED, idle=9 * DAY) == []
    assert reasons(running=False, idle=9 * DAY) == []


def test_a_retrying_activity_is_stuck_with_its_attempt_and_failure() -> None:
    first = PendingActivity("send_confirmation_email", 1)
    assert reasons(pending=[first]) == []
    again = PendingActivity("send_confirmation_email", 3, "451 Mail server unavailable")
    assert reasons(pending=[again]) == ["activity_retrying"]


@pytest.mark.parametrize(
    ("confirmation", "expires_in", "stuck"),
    [
        (ConfirmationStatus.EXPIRED, timedelta(hours=-1), True),
        # The expiry timer has not fired (a worker down): the link is dead all the same.
        (ConfirmationStatus.PENDING, timedelta(hours=-1), True),
        (ConfirmationStatus.PENDING, timedelta(hours=1), False),
    ],
)
def test_an_expired_confirmation_link_is_stuck(
    confirmation: ConfirmationStatus, expires_in: timedelta, stuck: bool
) -> None:
    state = JourneyState(
        "j", step=Step.CONFIRM_EMAIL, confirmation=confirmation, link_expires_at=NOW + expires_in
    )
    found = reasons(state, step=Step.CONFIRM_EMAIL, status=JourneyStatus.AWAITING_CONFIRMATION)
    assert ("confirmation_expired" in found) is stuck
    # Without the journey's state (it did not answer), its deadline attribute tells.
    assert reasons(step=Step.CONFIRM_EMAIL, deadline=NOW + expires_in) == (
        ["confirmation_expired"] if expires_in < timedelta(0) else []
    )


def test_a_locked_gckey_is_stuck_until_the_lock_ends() -> None:
    locked = JourneyState("j", step=Step.PORTAL, locked_until=NOW + timedelta(minutes=5))
    assert reasons(locked, step=Step.PORTAL, status=JourneyStatus.COMPLETED) == ["gckey_locked"]
    unlocked = JourneyState("j", step=Step.PORTAL, locked_until=NOW - timedelta(minutes=5))
    assert reasons(unlocked, step=Step.PORTAL, status=JourneyStatus.COMPLETED) == []


def test_compose_has_the_server_report_failing_workflow_tasks() -> None:
    config = (ROOT / "devstack" / "temporal-dynamic-config.yaml").read_text()
    assert f"{search.PROBLEMS_CONFIG_KEY}:\n  - value: {search.PROBLEMS_AFTER_FAILURES}" in config
    assert "devstack/temporal-dynamic-config.yaml:" in (ROOT / "docker-compose.yml").read_text()


def listed_reasons(**attributes: object) -> list[str]:
    """The list's reasons: search attributes only, no state, no pending activities."""
    values: dict[str, object] = {
        "now": NOW,
        "stuck_after": DAY,
        "running": True,
        "step": Step.PORTAL,
        "status": JourneyStatus.COMPLETED,
        "last_progress": NOW - 9 * DAY,
        "pending": [],
        "state": None,
        **attributes,
    }
    return [r.kind for r in stuck_reasons(**values)]  # type: ignore[arg-type]


def test_the_list_tells_stuck_from_search_attributes_alone() -> None:
    assert listed_reasons() == []
    assert listed_reasons(email_failing=True) == ["email_failing"]
    assert listed_reasons(mail_refused=True) == ["mail_refused"]
    assert listed_reasons(locked_until=NOW + timedelta(minutes=1)) == ["gckey_locked"]
    assert listed_reasons(locked_until=NOW - timedelta(minutes=1)) == []
    assert listed_reasons(reported_problems=True) == ["worker_refuses"]
    assert listed_reasons(running=False, email_failing=True, mail_refused=True) == []
    # A journey's own page names the retrying activity instead of saying it twice.
    retrying = [PendingActivity("send_confirmation_email", 3, "451 try later")]
    assert listed_reasons(email_failing=True, pending=retrying) == ["activity_retrying"]


def test_stuck_only_asks_visibility_the_same_rule() -> None:
    query = stuck_query(NOW, DAY)
    cutoff, moment = (NOW - DAY).isoformat(), NOW.isoformat()
    assert query.startswith("ExecutionStatus = 'Running' AND (")
    for term in (
        f"CersStatus IN ('in_progress', 'awaiting_confirmation') AND CersLastProgress < '{cutoff}'",
        "CersEmailFailing = true",
        f"CersStep = 'confirm_email' AND CersDeadline <= '{moment}'",
        f"CersLockedUntil > '{moment}'",
        "CersMailRefused = true",
        "TemporalReportedProblems IS NOT NULL",
    ):
        assert term in query
