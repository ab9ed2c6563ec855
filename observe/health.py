"""Readiness: can this process do its work now? Temporal, the database and the mail server
each answer a cheap question (Temporal's gRPC health check, ``SELECT 1``, an SMTP greeting).

A probe may come often and from anyone who can reach the port, so the answer is kept for
READINESS_CACHE_SECONDS and one look at a time is taken: however many probes, the dependencies
see at most one round of questions per interval. It names what is not reachable and the kind
of error, never an address, a credential or an error's text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import aiosmtplib
from sqlalchemy import Engine, text
from temporalio.client import Client

from settings import Settings

OK = "ok"


@dataclass
class Readiness:
    settings: Settings
    client: Client
    engine: Engine
    clock: Callable[[], float] = time.monotonic
    _seen: tuple[float, dict[str, str]] | None = None
    _looking: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def report(self) -> dict[str, str]:
        """Each dependency, "ok" or why not."""
        async with self._looking:
            if self._seen and self.clock() - self._seen[0] < self.settings.readiness_cache_seconds:
                return self._seen[1]
            checks = {"temporal": self.temporal, "database": self.database, "smtp": self.smtp}
            answers = await asyncio.gather(*(self._answer(check) for check in checks.values()))
            report = dict(zip(checks, answers, strict=True))
            self._seen = (self.clock(), report)
            return report

    async def _answer(self, check: Callable[[], Awaitable[None]]) -> str:
        try:
            await asyncio.wait_for(check(), self.settings.readiness_timeout_seconds)
        except TimeoutError:
            return "no answer in time"
        except Exception as err:  # noqa: BLE001 - any failure: not ready, and its type is said
            return f"unreachable ({type(err).__name__})"
        return OK

    async def temporal(self) -> None:
        timeout = timedelta(seconds=self.settings.readiness_timeout_seconds)
        if not await self.client.service_client.check_health(timeout=timeout):
            raise ConnectionError("not serving")

    async def database(self) -> None:
        def select_one() -> None:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        await asyncio.to_thread(select_one)

    async def smtp(self) -> None:
        s = self.settings
        server = aiosmtplib.SMTP(
            hostname=s.smtp_host or "127.0.0.1",
            port=s.smtp_port,
            timeout=s.readiness_timeout_seconds,
            start_tls=False,  # the greeting is enough to know it answers
        )
        await server.connect()
        await server.quit()


def ready(report: dict[str, str]) -> bool:
    return all(answer == OK for answer in report.values())
