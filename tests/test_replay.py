"""Today's workflow code replays every committed history: a change that would break running
journeys fails here, before it is deployed. The replay command's own code does it, so CI and
a team about to deploy run the same check."""

from __future__ import annotations

import importlib
import io
import pkgutil
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client

import workflows
from audit.__main__ import replay_command
from audit.replay import read_files, replay
from db.engine import make_engine
from settings import Settings
from tests.changed_workflow import ChangedOnboardingWorkflow
from tests.conftest import TEST_RING
from worker import build_worker, smtp_sender
from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def workflows_defined() -> set[type]:
    """Every class under workflows/ that ``@workflow.defn`` made a workflow."""
    found: set[type] = set()
    for module in pkgutil.iter_modules(workflows.__path__):
        members = vars(importlib.import_module(f"workflows.{module.name}")).values()
        found |= {m for m in members if isinstance(m, type) and workflow._Definition.from_class(m)}
    return found


async def test_the_worker_runs_every_workflow_defined_and_the_replayer_checks_it(
    client: Client, settings: Settings
) -> None:
    """A workflow added without its registry entry would neither run nor be replayed."""
    engine = make_engine(settings.sqlalchemy_url)
    try:
        worker = build_worker(client, settings, engine, smtp_sender(settings))
        assert set(worker.config()["workflows"]) == set(WORKFLOWS) == workflows_defined()
    finally:
        engine.dispose()


def test_every_path_of_the_journey_has_a_history() -> None:
    assert {h.stem for h in HISTORIES} >= {
        "completed",
        "declined_terms",
        "expired_then_new_link",
        "signed_in_locked_and_reset",
        "password_reset",
        "sign_in_partner",
        "gckey_expired",
        "cancelled_by_support",
        "helped_by_support",
        "locked_with_notice",
        "resumed_by_support",
        "mail_refused_then_changed",
        "abandoned_at_password",
        "counted_by_the_site",
        "mail_failing_then_sent",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    (outcome,) = await replay(read_files([path]), TEST_RING)
    assert outcome.passed, outcome.error
    assert outcome.workflow_id.startswith(("onboarding-", "password-reset-"))


async def test_the_replay_command_passes_the_committed_histories(settings: Settings) -> None:
    out = io.StringIO()
    code = await replay_command(
        ["replay", "--history-file", *map(str, HISTORIES)], None, settings, out
    )
    lines = out.getvalue().splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines[:-1]] == ["PASS"] * len(HISTORIES)
    assert lines[-1] == f"{len(HISTORIES)} passed, 0 failed"


async def test_replay_processes_give_what_one_process_gives_in_the_same_order() -> None:
    runs = read_files(HISTORIES) * 3  # more than a batch, so two processes share the work
    alone = await replay(runs, TEST_RING)
    shared = await replay(runs, TEST_RING, processes=2)
    assert [o.line() for o in shared] == [o.line() for o in alone]
    assert len(shared) == 3 * len(HISTORIES) and all(o.passed for o in shared)


@pytest.mark.parametrize("processes", [1, 2], ids=["in process", "two processes"])
async def test_a_changed_workflow_fails_replay_with_the_non_determinism(processes: int) -> None:
    journeys = [
        run
        for run in read_files(HISTORIES)
        if run.history.events[0].workflow_execution_started_event_attributes.workflow_type.name
        == "OnboardingWorkflow"
    ]
    outcomes = await replay(journeys, TEST_RING, [ChangedOnboardingWorkflow], processes=processes)
    assert outcomes and not any(o.passed for o in outcomes)
    for outcome in outcomes:
        assert outcome.error.startswith("NondeterminismError: ")
        assert "[TMPRL1100] Nondeterminism error" in outcome.error
        assert outcome.line().startswith(f"FAIL {outcome.workflow_id} run {outcome.run_id}")
