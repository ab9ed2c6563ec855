"""The site and the worker in processes of their own, as ``dev.py run`` starts them, for the
benchmarks that load them over real HTTP and count each process's CPU."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def project_env(settings: Settings, temporal_address: str, public_url: str) -> dict[str, str]:
    """The environment a web or worker process reads the same settings from."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    fields: dict[str, Any] = settings.model_dump()
    for name, value in fields.items():
        secret = getattr(settings, name)
        if hasattr(secret, "get_secret_value"):
            value = secret.get_secret_value()
        if value is None or isinstance(value, (dict, list)):
            continue
        env[name.upper()] = str(value)
    env.update(TEMPORAL_ADDRESS=temporal_address, PUBLIC_URL=public_url)
    env.update(WORKER_HEALTH_PORT="0")  # a free port: two stacks on one machine never collide
    env.update(DATABASE_URL=settings.database_url, PARTNER_ISSUER="", TEMPORAL_UI_ORIGIN="")
    return env


@asynccontextmanager
async def started(
    command: Sequence[str], env: Mapping[str, str], log: Path, ready: bytes, timeout: float = 60
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Runs ``command`` from the project root, its output in ``log``, until ``ready`` appears
    there; stopped with SIGINT (as ``dev.py run`` stops it), killed if it lingers."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=dict(env), stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + timeout
        while ready not in log.read_bytes():
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[-1]} did not start:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(2)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


def worker_command() -> list[str]:
    return [sys.executable, "worker.py"]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU the process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_named(name: str, parent: int | None = None) -> list[int]:
    """The processes ``parent`` (this one by default) started whose command is ``name``."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command = stat.partition("(")[2].rpartition(")")[0]
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent and command == name:
            found.append(int(entry.name))
    return found
