"""The benchmarks at tiny sizes: each starts its stack, drives it over real HTTP and reports
what it measured. No figure is held to a speed here (benchmarks print those); what is held is
that the measurement is of the real thing: every journey reached the portal, every page
answered, the floor ran."""

from __future__ import annotations

import re
import shutil

import pytest

from benchmarks import load, pages


@pytest.mark.parametrize("python", [True, False], ids=["python client", "wrk"])
async def test_pages_loads_the_site_and_a_bare_page_of_the_same_size(python: bool) -> None:
    if not python and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (the benchmark falls back to its Python client)")
    rounds = 2 if python else 1  # the rounds' median once is enough
    rows = await pages.run(seconds=1, connections=2, python=python, rounds=rounds)
    pages_loaded = ["GET /en/login", "GET /en/gckey/username"]
    assert [site.page for site, _ in rows] == [p for p in pages_loaded for _ in range(rounds)]
    for site, bare in rows:
        assert site.errors == 0 and bare.errors == 0
        assert site.requests_per_second > 0 and bare.requests_per_second > 0
        assert abs(site.bytes - bare.bytes) < 0.05 * site.bytes  # the same size of page
        assert site.cpu_ms_per_request > 0 and bare.cpu_ms_per_request > 0
    printed = pages.report(rows, "smoke", 2)
    assert "bare / site" in printed
    if rounds > 1:
        for page in pages_loaded:
            assert re.search(rf"{page} +2 rounds +[\d.]+x +[\d.]+x", printed), printed


async def test_load_walks_whole_journeys_to_the_portal_and_runs_the_floor() -> None:
    [level] = await load.run([2], 3, repeat=["terms"])
    assert level.finished == 3, [j.error for j in level.journeys]
    for journey in level.journeys:
        assert journey.pages[-1] == "/en/portal"
        assert all(0 < r.status < 400 for r in journey.requests), journey.requests
        # The repeated press went out, the same POST, after the first had answered.
        steps = [r.step for r in journey.requests]
        assert steps.index("POST terms (again)") == steps.index("POST terms") + 2
    assert set(level.cpu) == {"web", "worker", "temporal"}
    assert all(seconds > 0 for seconds in level.cpu.values())
    assert level.floors["regular"] > 0 and level.floors["local"] > 0
    # The bound throughput cannot pass while argon2id stays: from the floor's own CPU and
    # the journey's hashes, both measured in the run.
    assert set(level.floor_cpu) == {"this process", "temporal"}
    assert all(seconds > 0 for seconds in level.floor_cpu.values())
    assert level.hashes_seconds > 0 and 0 < level.bound < float("inf")
    report = load.report(level)
    assert "journeys/s" in report and "bound while argon2id stays" in report
