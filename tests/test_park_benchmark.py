"""The park benchmark's smoke run: a handful of journeys through the whole measurement, so the
script keeps working. It asserts the figures are printed, never what they are (speed is for
the benchmark run itself, README "Benchmark")."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE = r"p50 +[\d.]+ ms +p95 +[\d.]+ ms"


def test_the_park_benchmark_runs_and_prints_its_figures() -> None:
    command = [sys.executable, "-m", "benchmarks.park", "--journeys", "5", "--cache", "1"]
    done = subprocess.run(
        [*command, "--samples", "2", "--concurrency", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert re.search(r"parked 5 journeys at the e-mail wait in [\d.]+ s", out), out[-3000:]
    assert re.search(r"RSS MiB, idle -> 5 parked: worker \d+ -> \d+, dev server \d+", out)
    assert re.search(r"storage: dev server SQLite [\d.]+ MiB .* application database", out)
    for name in ("all journeys", "at the e-mail wait", "stuck only"):
        assert re.search(rf"staff list, {name} +{FIGURE}", out), name
    for kind in ("cached", "not cached"):
        assert re.search(rf"GCKey sign-in, journey {kind} +{FIGURE}", out), kind
        assert re.search(rf"journey query, {kind} +{FIGURE}", out), kind
    assert re.search(r"sign-in not cached / cached \(p50\): [\d.]+x", out)
    assert re.search(rf"bare Temporal plain update +{FIGURE}", out)
    # Every parked journey replays (the signed-in ones too): 5 passed, 0 failed.
    replay = r"audit replay of 5 parked journeys: [\d.]+ s .*: 5 passed, 0 failed \(exit 0\)"
    assert re.search(replay, out), out[-3000:]
    assert "not parked" not in out
