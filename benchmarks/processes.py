"""Processes of a benchmark's own stack, read from outside: started from the repository,
waited for, their resident memory, and the size of the SQLite files they keep."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.servers import HOST

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_file: Path

    def rss_mib(self) -> float:
        """Resident memory, from /proc (Linux); the dev server's binary is this very process."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def output(self) -> str:
        return self.log_file.read_text(errors="replace")


@contextmanager
def process(name: str, command: list[str], env: dict[str, str], data: Path) -> Iterator[Process]:
    log_file = data / f"{name}.log"
    with log_file.open("wb") as out:
        popen = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        yield Process(name, popen, log_file)
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


async def ready(proc: Process, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not await check():
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited during start-up:\n{proc.output()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} not ready in {READY_TIMEOUT}s:\n{proc.output()}")
        await asyncio.sleep(0.2)


async def listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def said(proc: Process, line: str) -> bool:
    return line in proc.output()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def figures(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):7.1f} ms   p95 {percentile(values, 0.95):7.1f} ms"
        f"   (n={len(values)})"
    )


def megabytes(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 2**20


def checkpoint(path: Path) -> None:
    """The application database's write-ahead log folded in, so its size is its rows'."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def sqlite_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
