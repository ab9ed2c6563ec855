"""Whole GCKey journeys over real HTTP while the stack is broken under them, then a count of
what was lost or done twice.

    python -m benchmarks.chaos [--journeys 150] [--in-flight 50] [--faults worker-kill ...]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each fault gets a stack of its own (devstack/faults.py: the dev server on its file, the worker,
the site under uvicorn, an SMTP server, and with --postgres the application database in a
database of its own behind a relay that can be cut; the machine's PostgreSQL is never
stopped). The load driver (benchmarks/driver.py) walks people through the journey, pressing the
button again on the steps named by --repeat; a person who gets an error page or no answer at
all waits a moment and presses again, as people do, for up to --patience seconds. Meanwhile
the fault is played out. Then, from the database, Temporal and the mailbox: per fault, the
journeys started and finished, lost (a person who could not finish), duplicate accounts and
URNs (one person, two), duplicate e-mails (a second confirmation no one asked for, or a
Message-ID twice that no lost attempt explains), messages resent (a Message-ID twice, sent
again by the retry of an attempt the fault cut between the mail server's 250 and the outbox's
row: README, "E-mail at most once"), orphan journeys (running journeys no person is walking),
workflow tasks failing, the presses again, the people who had to sign in with their new GCKey
because Continue's answer was lost (its session ends with it, by design), and what people saw
(status codes, connection errors).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import logging
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa
from temporalio.client import Client

from benchmarks.driver import (
    PASSWORD,
    STEPS,
    Journey,
    KeepingMailServer,
    Page,
    Person,
    WalkFailed,
)
from core.crypto import KeyRing
from core.temporal import data_converter
from devstack.faults import FaultStack, fault_stack
from workflows.types import ONBOARDING_ID_PREFIX

log = logging.getLogger("benchmarks.chaos")
ONBOARDING = "WorkflowType = 'OnboardingWorkflow'"


class ChaosMail(KeepingMailServer):
    """Keeps each message's Message-ID and recipient too, to count what went out twice."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, str]] = []  # (Message-ID, To, Subject)

    def received(self, content: bytes) -> None:
        super().received(content)
        message = email.message_from_bytes(content, policy=email.policy.default)
        self.sent.append(
            (str(message["Message-ID"]), str(message["To"]).lower(), str(message["Subject"]))
        )


class PatientPerson(Person):
    """A person who, on an error page or no answer, waits and presses the same button again
    (the same form, the same fields) until ``patience`` runs out."""

    patience = 120.0
    pause = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.again = 0
        self.signed_in_again = 0

    def _worth_again(self) -> bool:
        last = self.journey.requests[-1] if self.journey.requests else None
        return last is not None and (last.status == 0 or last.status >= 500)

    async def _patiently(self, act: Callable[[], Awaitable[Page]]) -> Page:
        deadline = time.monotonic() + self.patience
        while True:
            try:
                return await act()
            except WalkFailed:
                if not self._worth_again() or time.monotonic() > deadline:
                    raise
                self.again += 1
                await asyncio.sleep(self.pause)

    async def get(self, url: str) -> Page:
        return await self._patiently(lambda: Person.get(self, url))

    async def press(self, page: Page, step: str, action: str, fields: dict[str, Any]) -> Page:
        landed = await self._patiently(lambda: Person.press(self, page, step, action, fields))
        if step == "continue" and landed.path.endswith("/gckey/sign-in"):
            # Continue went through but its answer was lost: the browser's old session ended
            # with it, and signs no one in (web/gckey.py). The GCKey is issued; the person
            # signs in with it, as the page asks.
            self.signed_in_again += 1
            credentials = {"username": self.journey.username, "password": PASSWORD}
            return await self._patiently(
                lambda: Person.press(self, landed, "sign in", "sign-in", credentials)
            )
        return landed


@dataclass
class Outcome:
    fault: str
    started: int
    finished: int
    lost: int
    duplicate_accounts: int
    duplicate_urns: int
    duplicate_emails: int
    resent: int
    orphans: int
    failing_tasks: int
    presses_again: int
    signed_in_again: int
    seconds: float
    saw: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


# Each fault: what is done to the stack, given it and the seconds to spread it over.
Fault = Callable[[FaultStack, float], Awaitable[None]]


def worker_kills(times: int) -> Fault:
    """kill -9 the worker ``times`` times, a new one started right after each."""

    async def fault(stack: FaultStack, spread: float) -> None:
        for _ in range(times):
            await asyncio.sleep(spread / (times + 1))
            await stack.worker.restart(kill=True)

    return fault


async def worker_stop(stack: FaultStack, spread: float) -> None:
    """SIGTERM the worker twice, as a deploy does; a new one started after each stops."""
    for _ in range(2):
        await asyncio.sleep(spread / 3)
        await stack.worker.restart(kill=False)


async def temporal_restart(stack: FaultStack, spread: float) -> None:
    """kill -9 the dev server, and start it again on its file five seconds later."""
    await asyncio.sleep(spread / 3)
    await stack.temporal.kill()
    await asyncio.sleep(5)
    await stack.temporal.start()


async def web_kill(stack: FaultStack, spread: float) -> None:
    """kill -9 the site twice, started again a second later."""
    for _ in range(2):
        await asyncio.sleep(spread / 3)
        await stack.web.kill()
        await asyncio.sleep(1)
        await stack.web.start()


async def smtp_refuse(stack: FaultStack, spread: float) -> None:
    """The mail server refuses (451) for 15 s, then is down (port closed) for 15 s."""
    await asyncio.sleep(spread / 4)
    stack.mail.mail.refuse = True
    await asyncio.sleep(15)
    stack.mail.mail.refuse = False
    stack.mail.down()
    await asyncio.sleep(15)
    stack.mail.up()


async def db_cut(stack: FaultStack, spread: float) -> None:
    """The application database unreachable for 30 s (the relay in front of it cut)."""
    if stack.relay is None:
        raise SystemExit("db-cut needs --postgres: SQLite has no connection to cut")
    await asyncio.sleep(spread / 4)
    stack.relay.cut()
    await asyncio.sleep(30)
    stack.relay.restore()


FAULTS: dict[str, Fault] = {
    "worker-kill": worker_kills(5),
    "worker-stop": worker_stop,
    "temporal-restart": temporal_restart,
    "web-kill": web_kill,
    "smtp": smtp_refuse,
    "db-cut": db_cut,
}


async def walk_all(
    stack: FaultStack,
    mail: ChaosMail,
    journeys: int,
    in_flight: int,
    repeat: Collection[str],
    patience: float,
) -> tuple[list[Journey], int, int]:
    gate = asyncio.Semaphore(in_flight)
    again = signed_in = 0

    async def one(number: int) -> Journey:
        nonlocal again, signed_in
        async with gate, httpx2.AsyncClient(base_url=stack.url, timeout=30) as http:
            person = PatientPerson(number, http, mail, repeat, mail_timeout=patience + 60)
            person.patience = patience
            journey = await person.walk()
            again += person.again
            signed_in += person.signed_in_again
            return journey

    walked = await asyncio.gather(*(one(n) for n in range(journeys)))
    return list(walked), again, signed_in


async def count(stack: FaultStack, mail: ChaosMail, journeys: Sequence[Journey]) -> dict[str, int]:
    """What the database, Temporal and the mailbox hold, against the people who walked."""
    addresses = {j.email for j in journeys}
    engine = sa.create_engine(stack.direct_database_url)
    try:
        with engine.connect() as db:
            rows = db.execute(sa.text("SELECT email, urn FROM user_account")).all()
    finally:
        engine.dispose()
    per_person = Counter(email for email, _ in rows if email in addresses)
    urns = Counter(urn for email, urn in rows if email in addresses and urn)
    per_id = Counter(message_id for message_id, _, _ in mail.sent)
    # One confirmation each: a second message to the same person, unasked, went out twice.
    distinct = {(message_id, to) for message_id, to, _ in mail.sent}
    messages_to = Counter(to for _, to in distinct if to in addresses)
    ring = KeyRing.parse(stack.env["PAYLOAD_KEYS"])
    client = await Client.connect(stack.temporal_address, data_converter=data_converter(ring))
    resent = unexplained = 0  # copies past the first of a Message-ID, by what explains them
    for message_id, copies in per_id.items():
        if copies > 1:
            if await sent_by_a_retry(client, message_id):
                resent += copies - 1
            else:
                unexplained += copies - 1
    running = [
        e async for e in client.list_workflows(f"{ONBOARDING} AND ExecutionStatus = 'Running'")
    ]
    failing = 0
    for execution in running:
        described = await client.get_workflow_handle(execution.id).describe()
        if described.raw_description.pending_workflow_task.attempt > 1:
            failing += 1
    return {
        "accounts twice": sum(n - 1 for n in per_person.values() if n > 1),
        "urns twice": sum(n - 1 for n in urns.values() if n > 1)
        + sum(1 for n in per_person.values() if n > 1),
        "e-mails twice": sum(n - 1 for n in messages_to.values() if n > 1) + unexplained,
        "resent": resent,
        "orphans": max(0, len(running) - len(journeys)),
        "failing tasks": failing,
    }


# Which activity sends a message, by the kind its Message-ID names (activities/notify.py).
SENT_BY = {
    "confirmation": "send_confirmation_email",
    "reminder": "send_confirmation_email",
    "lock": "send_lock_notice",
    "resume": "send_resume_link",
}


async def sent_by_a_retry(client: Client, message_id: str) -> bool:
    """Whether the activity that sent ``message_id`` ran more than once: an attempt was cut
    (here, by the fault) and the retry sent the message again."""
    journey, first, second = message_id.strip(" <>").split("@")[0].split(".")[:3]
    kind = second if first.isdigit() else first
    history = await client.get_workflow_handle(ONBOARDING_ID_PREFIX + journey).fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == SENT_BY.get(kind)
    }
    return any(
        e.activity_task_started_event_attributes.attempt > 1
        for e in history.events
        if e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    )


async def run_fault(
    name: str,
    fault: Fault,
    *,
    journeys: int,
    in_flight: int,
    repeat: Collection[str],
    patience: float,
    postgres: str | None,
    work: Path,
) -> Outcome:
    mail = ChaosMail()
    database = None
    if postgres is not None:
        database = f"chaos_{secrets.token_hex(4)}"
        _admin(postgres, f'CREATE DATABASE "{database}"')
        url = postgres.rsplit("/", 1)[0] + f"/{database}"
    try:
        async with fault_stack(work / name, mail, postgres_url=url if database else None) as stack:
            started = time.perf_counter()
            spread = max(20.0, journeys / in_flight * 8)
            playing = asyncio.ensure_future(fault(stack, spread))
            walked, again, signed_in = await walk_all(
                stack, mail, journeys, in_flight, repeat, patience
            )
            await playing
            seconds = time.perf_counter() - started
            counted = await count(stack, mail, walked)
    finally:
        if database is not None and postgres is not None:
            _admin(postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    saw: Counter[str] = Counter()
    for journey in walked:
        for request in journey.requests:
            saw["no answer" if request.status == 0 else f"HTTP {request.status}"] += 1
    finished = sum(j.finished for j in walked)
    return Outcome(
        fault=name,
        started=len(walked),
        finished=finished,
        lost=len(walked) - finished,
        duplicate_accounts=counted["accounts twice"],
        duplicate_urns=counted["urns twice"],
        duplicate_emails=counted["e-mails twice"],
        resent=counted["resent"],
        orphans=counted["orphans"],
        failing_tasks=counted["failing tasks"],
        presses_again=again,
        signed_in_again=signed_in,
        seconds=seconds,
        saw=saw,
        errors=[f"person {j.person}: {j.error}" for j in walked if j.error][:5],
    )


def _admin(postgres: str, statement: str) -> None:
    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as db:
            db.execute(sa.text(statement))
    finally:
        engine.dispose()


def report(outcomes: Sequence[Outcome]) -> str:
    header = (
        f"{'fault':<17}{'started':>8}{'finished':>9}{'lost':>6}{'acct x2':>8}{'URN x2':>7}"
        f"{'mail x2':>8}{'resent':>7}{'orphans':>8}{'failing':>8}{'again':>7}{'sign in':>8}{'s':>7}"
        "  what people saw"
    )
    lines = [header]
    for o in outcomes:
        saw = ", ".join(f"{k}: {v}" for k, v in sorted(o.saw.items()))
        lines.append(
            f"{o.fault:<17}{o.started:>8}{o.finished:>9}{o.lost:>6}{o.duplicate_accounts:>8}"
            f"{o.duplicate_urns:>7}{o.duplicate_emails:>8}{o.resent:>7}{o.orphans:>8}{o.failing_tasks:>8}"
            f"{o.presses_again:>7}{o.signed_in_again:>8}{o.seconds:>7.0f}  {saw}"
        )
        lines += [f"{'':<17}{error}" for error in o.errors]
    return "\n".join(lines)


async def main(argv: Sequence[str] | None = None) -> list[Outcome]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=150, help="journeys per fault")
    parser.add_argument("--in-flight", type=int, default=50, help="people walking at once")
    parser.add_argument("--faults", nargs="+", choices=sorted(FAULTS), default=list(FAULTS))
    parser.add_argument("--repeat", nargs="*", choices=STEPS, default=list(STEPS))
    parser.add_argument("--patience", type=float, default=120)
    parser.add_argument("--postgres", help="a PostgreSQL URL: each fault makes a database there")
    parser.add_argument("--logs", type=Path, help="keep each process's log here (else dropped)")
    args = parser.parse_args(argv)
    faults = [f for f in args.faults if args.postgres or f != "db-cut"]
    if len(faults) < len(args.faults):
        log.warning("db-cut left out: it needs --postgres")
    outcomes = []
    with tempfile.TemporaryDirectory() as scratch:
        work = args.logs or Path(scratch)
        for name in faults:
            log.info("%s: %s journeys, %s in flight", name, args.journeys, args.in_flight)
            outcomes.append(
                await run_fault(
                    name,
                    FAULTS[name],
                    journeys=args.journeys,
                    in_flight=args.in_flight,
                    repeat=args.repeat,
                    patience=args.patience,
                    postgres=args.postgres,
                    work=work,
                )
            )
            log.info("%s", report(outcomes[-1:]))
    log.info("\n%s", report(outcomes))
    return outcomes


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx2", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    asyncio.run(main())
