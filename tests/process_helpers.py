"""A project process (the site, the worker) started for a test and stopped after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from tests.conftest import until

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def started(
    command: Sequence[str], env: Mapping[str, str], log: Path, ready: bytes
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Runs ``command`` from the project root, its output in ``log``, until ``ready`` appears
    there (or it dies, which fails the test with its log); killed after the block."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=dict(env), stdout=out, stderr=out
        )
    try:
        await until(
            lambda: process.returncode is not None or ready in log.read_bytes(),
            what=f"{command[-1]} to start",
        )
        assert process.returncode is None, log.read_text()
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
