"""The chaos benchmark's small version: 20 people walking the whole journey over real HTTP,
every button pressed twice, while the worker process is killed twice under them. Nothing may
be lost, done twice or left behind (benchmarks/chaos.py runs the full set of faults). A kill
between the mail server's 250 and the outbox's row has the retry send that message again, with
its Message-ID: no transaction spans SMTP and the database (README, "E-mail at most once"), so
such a message is counted apart, and only a retry may explain it."""

from __future__ import annotations

from pathlib import Path

from benchmarks.chaos import report, run_fault, worker_kills
from benchmarks.driver import STEPS


async def test_twenty_journeys_pressed_twice_through_two_worker_kills(tmp_path: Path) -> None:
    outcome = await run_fault(
        "worker-kill",
        worker_kills(2),
        journeys=20,
        in_flight=10,
        repeat=STEPS,
        patience=90,
        postgres=None,
        work=tmp_path,
    )
    said = report([outcome])
    assert outcome.started == 20, said
    assert outcome.lost == 0, said
    assert (outcome.duplicate_accounts, outcome.duplicate_urns, outcome.duplicate_emails) == (
        0,
        0,
        0,
    ), said
    assert outcome.orphans == 0, said
    assert outcome.failing_tasks == 0, said
    # A person may see the "try again" page while the worker is down, never a server error.
    assert not any(k in outcome.saw for k in ("HTTP 500", "HTTP 502", "HTTP 504")), said
