"""A stack of real processes that can be made to fail: the dev server on its own file, the
worker, the site, an SMTP server that refuses or goes down, and the application database
behind a TCP relay that can be cut. The chaos benchmark and its small version in the suite
drive it; nothing here stops a service of the machine's own (PostgreSQL stays up: only the
relay in front of it is cut)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from core.crypto import KeyRing
from devstack.servers import BIN, HOST, MailServer, free_port
from devstack.stack import GENEROUS_LIMITS
from workflows import search

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0

log = logging.getLogger("faults")


class TcpRelay:
    """Bytes between a client and ``target``, both ways, until ``cut``: then every open
    connection is dropped and each new one is closed as soon as it is accepted, as a database
    behind a failed network looks to its clients. ``restore`` lets connections through again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.is_cut = False
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, HOST, self.port)

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def cut(self) -> None:
        self.is_cut = True
        for writer in list(self.open):
            writer.transport.abort()
        self.open.clear()

    def restore(self) -> None:
        self.is_cut = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.open |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for each in (writer, up_writer):
                self.open.discard(each)
                each.transport.abort()


@asynccontextmanager
async def relay_to(target: str) -> AsyncIterator[TcpRelay]:
    """A relay to ``target`` (``host:port``) for the block, closed after it."""
    host, _, port = target.rpartition(":")
    relay = TcpRelay(host, int(port))
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


class MailSwitch:
    """Takes ``mail`` (a devstack SMTP server, whichever messages it keeps) down and up: down,
    its port is closed, as a mail server that is off; ``mail.refuse`` makes it answer 451."""

    def __init__(self, mail: MailServer) -> None:
        self.mail = mail
        self.controller: Controller | None = None

    def up(self) -> None:
        if self.controller is None:
            self.controller = Controller(self.mail, hostname=HOST, port=self.mail.port)
            self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Process:
    """One project process, restartable with the same command and environment."""

    name: str
    command: tuple[str, ...]
    env: dict[str, str]
    log: Path
    ready_port: int | None = None  # listening on it means ready
    ready_line: bytes | None = None  # or this in its log since it was started
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0

    async def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command, cwd=ROOT, env=self.env, stdout=out, stderr=out
            )
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while not await self._ready(offset):
            if self.proc.returncode is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready in {START_TIMEOUT}s; see {self.log}")
            await asyncio.sleep(0.1)

    async def _ready(self, offset: int) -> bool:
        if self.ready_port is not None and not _listening(self.ready_port):
            return False
        if self.ready_line is not None:
            with self.log.open("rb") as f:
                f.seek(offset)
                return self.ready_line in f.read()
        return True

    async def kill(self) -> None:
        """SIGKILL: no goodbye, as in a power cut."""
        await self._signal(signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM, as a deploy or ``docker compose restart`` stops it."""
        await self._signal(signal.SIGTERM)

    async def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    async def restart(self, *, kill: bool = True) -> None:
        await (self.kill() if kill else self.stop())
        await self.start()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class FaultStack:
    """What the chaos driver talks to, and the handles to break it."""

    url: str
    temporal_address: str
    database_url: str  # the worker's and the site's, through the relay
    direct_database_url: str  # the same database, not through the relay: for checking
    env: dict[str, str]
    mail: MailSwitch
    relay: TcpRelay | None
    temporal: Process
    worker: Process
    web: Process
    extra: dict[str, Any] = field(default_factory=dict)


def stack_environment(
    *,
    data_dir: Path,
    temporal_address: str,
    database_url: str,
    smtp_port: int,
    web_port: int,
    task_queue: str,
    overrides: Mapping[str, str] = {},
) -> dict[str, str]:
    """What an operator would set for the worker and the site (test environment: its keys are
    given here, none is made in the data directory)."""
    ring = KeyRing.parse(KeyRing.new_key_text("chaos"))
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "ENVIRONMENT": "test",
        "DATA_DIR": str(data_dir),
        "TEMPORAL_ADDRESS": temporal_address,
        "TASK_QUEUE": task_queue,
        "DATABASE_URL": database_url,
        "SMTP_HOST": HOST,
        "SMTP_PORT": str(smtp_port),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "PAYLOAD_KEYS": ring.text(),
        "PUBLIC_URL": f"http://{HOST}:{web_port}",
        "WORKER_HEALTH_PORT": "0",  # a free port: restarts and other stacks never collide
        **{name.upper(): str(value) for name, value in GENEROUS_LIMITS.items()},
        **overrides,
    }
    return env


@asynccontextmanager
async def fault_stack(
    work: Path,
    mail: MailServer,
    *,
    postgres_url: str | None = None,
    overrides: Mapping[str, str] = {},
) -> AsyncIterator[FaultStack]:
    """The dev server, the SMTP server, the worker and the site as separate processes (the
    site under uvicorn as dev.py runs it). With ``postgres_url`` the application database is
    PostgreSQL reached through a relay that can be cut; otherwise SQLite in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    temporal_port, web_port = free_port(), free_port()
    temporal = Process(
        "temporal",
        (
            str(BIN / "temporal"),
            *("server", "start-dev", "--headless"),
            *("--db-filename", str(work / "temporal.sqlite3")),
            *("--ip", HOST, "--port", str(temporal_port), "--log-level", "error"),
            *search.dev_server_args(),
        ),
        dict(os.environ),
        work / "temporal.log",
        ready_port=temporal_port,
    )
    switch = MailSwitch(mail)
    relay: TcpRelay | None = None
    if postgres_url is not None:
        host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
        host, _, port = host_port.partition(":")
        relay = TcpRelay(host, int(port or 5432))
        await relay.start()
        database_url = postgres_url.replace(host_port, f"{HOST}:{relay.port}")
        direct = postgres_url
    else:
        database_url = direct = f"sqlite:///{work / 'cers.sqlite3'}"
    env = stack_environment(
        data_dir=work,
        temporal_address=f"{HOST}:{temporal_port}",
        database_url=database_url,
        smtp_port=mail.port,
        web_port=web_port,
        task_queue=f"chaos-{secrets.token_hex(4)}",
        overrides=overrides,
    )
    worker = Process(
        "worker", (sys.executable, "worker.py"), env, work / "worker.log", ready_line=b"polling"
    )
    web = Process(
        "web",
        (
            *(sys.executable, "-m", "uvicorn", "web.app:app", "--host", HOST),
            *("--port", str(web_port), "--no-server-header", "--no-proxy-headers"),
        ),
        env,
        work / "web.log",
        ready_port=web_port,
    )
    switch.up()
    try:
        await temporal.start()
        await _migrate(env)
        await worker.start()
        await web.start()
        yield FaultStack(
            url=f"http://{HOST}:{web_port}",
            temporal_address=f"{HOST}:{temporal_port}",
            database_url=database_url,
            direct_database_url=direct,
            env=env,
            mail=switch,
            relay=relay,
            temporal=temporal,
            worker=worker,
            web=web,
        )
    finally:
        for each in (web, worker, temporal):
            await each.stop()
        switch.down()
        if relay is not None:
            await relay.close()


async def _migrate(env: Mapping[str, str]) -> None:
    """The migration job, as the container runs it, before the worker and the site start."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from db.engine import migrate; from settings import get_settings; "
        "migrate(get_settings().sqlalchemy_url)",
        cwd=ROOT, env=dict(env),
    )  # fmt: skip
    if await proc.wait():
        raise RuntimeError("the migration failed")
