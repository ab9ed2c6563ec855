"""The replay benchmark at a tiny size, on the suite's server: seeded journeys close, the
replay command replays each of them in two processes, in one, and one at a time, and its progress
line goes to stderr while the report on stdout keeps its form."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from benchmarks.replay import listed, seed, timed_replay
from settings import Settings
from tests.conftest import NewWorker


async def test_the_replay_benchmark_seeds_closed_journeys_and_replays_them_all(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with new_worker(client, settings):
        seeded = await seed(client, settings, 3)
        await listed(client, since, 3)
    for at_once, replayers, processes in ((16, 4, 2), (16, 4, 1), (1, 1, 1)):
        progress = io.StringIO()
        _, lines, code = await timed_replay(
            client, settings, since, at_once, replayers, processes, progress
        )
        assert code == 0, lines
        assert {line.split()[1] for line in lines if line.startswith("PASS ")} == set(seeded)
        assert lines[-1] == "3 passed, 0 failed"
        said = progress.getvalue().splitlines()
        assert said and said[-1] == "replayed 3/3 (fetched 3)"
