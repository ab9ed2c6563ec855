"""Operating it, as an operator meets it: the probes on the site and on the worker's own port,
Prometheus metrics that a walked journey moves, one trace from a form POST into its update and
activity, and JSON log lines that carry the request id from the site into the workflow."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.exc import OperationalError
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.testing import ActivityEnvironment

from activities.email import EmailTemplates, MailNotSent, SmtpSender
from core.temporal import data_converter
from devstack.servers import free_port
from observe.logs import WithRequestId, formatter, temporal_fields
from observe.metrics import CountedSender, temporal_runtime
from observe.requests import acceptable
from observe.tracing import temporal_interceptors
from settings import Settings
from tests.conftest import TEST_RING, MailCatcher, NewWorker, text_of, until
from tests.journeys import PASSWORD, new_address
from tests.process_helpers import started, worker_environment
from tests.web_helpers import Browser, Page, browser, create_user_account, link_in, sign_up
from web.logs import ACCESS_LOGGER, redact_access_log
from worker import probes

TOKEN = "scrape-" + secrets.token_hex(16)


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


async def connect(env_client: Client, **kwargs: Any) -> Client:
    return await Client.connect(
        env_client.service_client.config.target_host,
        namespace=env_client.namespace,
        data_converter=data_converter(TEST_RING),
        **kwargs,
    )


async def site_metrics(b: Browser) -> str:
    response = await b.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return response.text


async def sign_in(b: Browser, username: str, password: str) -> Page:
    return await b.submit(
        await b.get("/en/gckey/sign-in"), "sign-in", {"username": username, "password": password}
    )


async def scrape_until(
    http: httpx2.AsyncClient, url: str, ready: Callable[[str], bool], what: str
) -> str:
    """The page at ``url`` once ``ready`` holds of it (metrics that settle a moment later)."""
    seen = [""]

    async def check() -> bool:
        seen[0] = (await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})).text
        return ready(seen[0])

    await until(check, what=what)
    return seen[0]


def unreachable(settings: Settings) -> Settings:
    """The same settings, with nothing listening where the mail server and database are."""
    return settings.model_copy(
        update={
            "smtp_port": free_port(),
            "database_url": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none",
        }
    )


# The probes.


async def test_the_site_answers_probes_before_any_host_check_and_says_what_is_down(
    client: Client, settings: Settings
) -> None:
    async with browser(settings, client) as b:
        # Compose's health check asks localhost:8000, not the public host name.
        healthz = await b.http.get("http://localhost:8000/healthz")
        assert (healthz.status_code, healthz.text) == (200, "ok")
        assert healthz.headers["X-Request-ID"]
        ready = await b.http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"temporal": "ok", "database": "ok", "smtp": "ok"}
        assert (await b.http.post("/healthz")).status_code == 405
        # Any other page from that host is still refused.
        assert (await b.http.get("http://localhost:8000/en/login")).status_code == 400

    async with browser(unreachable(settings), client) as b:
        ready = await b.http.get("/readyz")
        assert ready.status_code == 503
        report = ready.json()
        assert report["temporal"] == "ok"
        assert report["database"].startswith("unreachable")
        assert report["smtp"].startswith("unreachable")
        assert "127.0.0.1" not in ready.text and "postgres" not in ready.text
        assert (await b.http.get("/healthz")).status_code == 200  # up, though not ready


async def test_the_worker_port_answers_over_http(client: Client, settings: Settings) -> None:
    settings.worker_health_host, settings.worker_health_port = "127.0.0.1", 0
    settings.metrics_token = SecretStr(TOKEN)
    async with probes(settings, client) as port, httpx2.AsyncClient() as http:
        base = f"http://127.0.0.1:{port}"
        assert (await http.get(f"{base}/healthz")).text == "ok"
        ready = await http.get(f"{base}/readyz")
        assert ready.status_code == 200 and set(ready.json().values()) == {"ok"}
        assert (await http.get(f"{base}/metrics")).status_code == 401
        scraped = await http.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        assert sample(scraped.text, "cers_open_journeys", step="terms") == 0

    async with probes(unreachable(settings), client) as port, httpx2.AsyncClient() as http:
        ready = await http.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 503
        assert ready.json()["smtp"].startswith("unreachable")
        assert ready.json()["database"].startswith("unreachable")


async def test_the_site_serves_metrics_only_with_the_token(
    client: Client, settings: Settings
) -> None:
    async with browser(settings, client) as b:  # no METRICS_TOKEN: no /metrics at all
        assert (await b.http.get("/metrics")).status_code == 404
    settings.metrics_token = SecretStr(TOKEN)
    async with browser(settings, client) as b:
        assert (await b.http.get("/metrics")).status_code == 404
        wrong = {"Authorization": "Bearer " + "x" * len(TOKEN)}
        assert (await b.http.get("/metrics", headers=wrong)).status_code == 404
        assert "cers_http_requests_total" in await site_metrics(b)


# Metrics.


@pytest.fixture
async def metered(client: Client, settings: Settings) -> AsyncIterator[tuple[Client, str]]:
    """A client on a runtime of its own whose SDK metrics are served on a free port."""
    settings.temporal_metrics_bind = f"127.0.0.1:{free_port()}"
    runtime: Runtime | None = temporal_runtime(settings)
    metered_client = await connect(
        client, runtime=runtime, interceptors=temporal_interceptors(None)
    )
    yield metered_client, f"http://{settings.temporal_metrics_bind}/metrics"
    del metered_client, runtime


async def test_a_journey_moves_the_counters(
    metered: tuple[Client, str], settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    client, runtime_metrics = metered
    settings.metrics_token = SecretStr(TOKEN)
    settings.lock_after_failures = 2
    settings.worker_health_host, settings.worker_health_port = "127.0.0.1", 0
    settings.open_journeys_cache_seconds = 0
    queue = {"task_queue": settings.task_queue}
    username, address = f"Count{uuid.uuid4().hex[:6]}", new_address()
    async with (
        new_worker(client, settings),
        browser(settings, client) as b,
        probes(settings, client) as port,
        httpx2.AsyncClient() as http,
    ):
        before = await site_metrics(b)
        page = await sign_up(b, "en", username, address)
        assert page.h1 == "Your GCKey has been issued"
        await b.submit(page, "issued")
        page = await create_user_account(b, "en", address)
        (message,) = await smtp.wait_for(address)
        link = link_in(text_of(message))
        workers = f"http://127.0.0.1:{port}/metrics"
        # Counted in visibility: the journey waits at confirm_email.
        await scrape_until(
            http,
            workers,
            lambda t: sample(t, "cers_open_journeys", step="confirm_email") == 1,
            "the journey at confirm_email in visibility",
        )
        # Another journey declines the terms: it is over, its outcome "declined".
        async with browser(settings, client) as other:
            page = await other.get("/en/gckey/sign-in")
            page = await other.submit(page, "sign-up")
            page = await other.submit(page, "terms", {"decision": "decline"})
        page = await b.submit(await b.get(link), "confirm")
        assert page.h1 == "Your e-mail address is confirmed"
        async with browser(settings, client) as later:  # another day, signed in anew
            await sign_in(later, username, PASSWORD)
        async with browser(settings, client) as guesser:
            for _ in range(2):
                await sign_in(guesser, username, "Wrong7Password")
        await smtp.wait_for(address, 2)  # the notice of the lock
        after = await site_metrics(b)

        def moved(name: str, **labels: str) -> float:
            return sample(after, name, **labels) - sample(before, name, **labels)

        assert moved("cers_sign_ins_total", outcome="signed_in") == 1
        assert moved("cers_sign_ins_total", outcome="failed") == 1
        assert moved("cers_sign_ins_total", outcome="locked") == 1
        route = "/{lang}/gckey/username"
        assert moved("cers_http_requests_total", method="POST", route=route, status="303") == 1
        assert moved("cers_http_request_duration_seconds_count", method="POST", route=route) == 1
        confirm = "/{lang}/confirm/{token}"
        assert moved("cers_http_requests_total", method="POST", route=confirm, status="200") == 1
        token = link.rsplit("/", 1)[1]
        assert token not in after and username not in after and address not in after
        # The worker's sender, in this process: the confirmation and the lock notice.
        kinds = ("send_confirmation_email", "send_lock_notice")
        assert all(moved("cers_emails_sent_total", kind=k) == 1 for k in kinds)

        # The journeys, as the workflows counted them (the SDK's runtime endpoint; the parser
        # names a counter's samples _total, as Prometheus does).
        text = await scrape_until(
            http,
            runtime_metrics,
            lambda t: sample(t, "cers_journeys_finished_total", **queue) == 2,
            "both journeys finished in the runtime's metrics",
        )
        assert sample(text, "cers_journeys_started_total", login_method="gckey", **queue) == 2
        assert (
            sample(text, "cers_journeys_finished_total", outcome="declined", **queue)
            == sample(text, "cers_journeys_finished_total", outcome="portal", **queue)
            == 1
        )
        assert sample(text, "temporal_workflow_completed_total", **queue) == 1  # the SDK's own
        # Visibility again: none is open now (one at the portal, one declined).
        await scrape_until(
            http, workers, lambda t: sample(t, "cers_open_journeys") == 0, "no open journey"
        )


# Traces.


def by_name(spans: list[ReadableSpan], prefix: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.name.startswith(prefix)]
    return span


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


async def test_one_form_step_is_one_connected_trace(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = await connect(client, interceptors=temporal_interceptors(provider))
    username = f"Trace{uuid.uuid4().hex[:6]}"
    async with (
        new_worker(traced, settings),
        browser(settings, traced, tracer_provider=provider) as b,
    ):
        page = await b.get("/en/gckey/sign-in")
        page = await b.submit(page, "sign-up")
        page = await b.submit(page, "terms", {"decision": "accept"})
        exporter.clear()
        page = await b.submit(page, "username", {"username": username})
        assert page.h1 == "Create Your Password"
        spans = list(exporter.get_finished_spans())

        # HTTP -> the update the site sends -> the worker's validator and handler, and the
        # activity the handler starts (the SDK's workflow spans end as they start, so they
        # are siblings) -> the activity's run.
        http = by_name(spans, "POST /{lang}/gckey/username")
        update = by_name(spans, "StartWorkflowUpdate:choose_username")
        validated = by_name(spans, "ValidateUpdate:choose_username")
        handled = by_name(spans, "HandleUpdate:choose_username")
        started = by_name(spans, "StartActivity:reserve_username")
        ran = by_name(spans, "RunActivity:reserve_username")
        assert http.context and update.context and handled.context and started.context
        assert parent_of(update) == http.context.span_id
        assert parent_of(validated) == parent_of(handled) == update.context.span_id
        assert parent_of(started) == update.context.span_id
        assert parent_of(ran) == started.context.span_id
        chain = (http, update, validated, handled, started, ran)
        assert len({s.context.trace_id for s in chain if s.context}) == 1

        # A link's token, a search's words, the person's address: in no span.
        exporter.clear()
        await b.get("/en/confirm/SECRET-TOKEN-123")
        await b.get(f"/en/gckey/sign-in?username={username}")
        spans = list(exporter.get_finished_spans())
        assert {s.name for s in spans} >= {
            "GET /{lang}/confirm/{token}",
            "GET /{lang}/gckey/sign-in",
        }
        written = repr([(s.name, dict(s.attributes or {})) for s in spans])
        assert "SECRET-TOKEN" not in written and username not in written
        assert "127.0.0.1" not in written and "python-httpx2" not in written
        # Probes leave no trace.
        exporter.clear()
        await b.http.get("/healthz")
        assert not exporter.get_finished_spans()
    del traced


# Logs.


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the service's handler writes in production, one JSON object a line."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(WithRequestId())
    handler.setFormatter(formatter(json_lines=True))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    temporal_fields(json_lines=True)
    yield written
    temporal_fields(json_lines=False)
    root.removeHandler(handler)
    root.setLevel(level)


async def test_a_request_id_follows_a_sign_in_into_the_workflow_and_its_e_mail(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    smtp: MailCatcher,
    json_lines: io.StringIO,
) -> None:
    settings.lock_after_failures = 2
    settings.trusted_proxies = "127.0.0.1"  # the test's connections come from there
    username, address = f"Logs{uuid.uuid4().hex[:6]}", new_address()
    request_id = f"lb-{uuid.uuid4().hex}"
    client = await connect(client, interceptors=temporal_interceptors(None))  # as worker.py's
    async with new_worker(client, settings), browser(settings, client) as b:
        await sign_up(b, "en", username, address)
        async with browser(settings, client) as guesser:
            await sign_in(guesser, username, "Wrong7Password")
            guesser.http.headers["X-Request-ID"] = request_id
            page = await sign_in(guesser, username, "Wrong7Password")
            assert page.response.headers["X-Request-ID"] == request_id
        await smtp.wait_for(address)  # the notice of the lock
        await until(lambda: "sent the notice of lock" in json_lines.getvalue(), what="the log")

        # An id of a shape a log line could be forged with, or from a peer that is not a
        # trusted proxy, is replaced by the site's own.
        forged = await b.http.get("/healthz", headers={"X-Request-ID": "a b\nc"})
        assert acceptable(forged.headers["X-Request-ID"])
    settings.trusted_proxies = ""
    async with browser(settings, client) as b:
        untrusted = await b.http.get("/healthz", headers={"X-Request-ID": request_id})
        assert untrusted.headers["X-Request-ID"] != request_id

    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in lines)
    mine = {r["message"].split(" until ")[0] for r in lines if r["request_id"] == request_id}
    # The workflow's update handler, and the activity it started, say whose request it was.
    assert "GCKey locked" in mine
    assert "sent the notice of lock 1" in mine
    # Not the service's: the test's mail server and HTTP client log addresses and URLs.
    written = repr([r for r in lines if r["logger"].split(".")[0] not in ("mail", "httpx2")])
    assert username not in written and address not in written and PASSWORD not in written


def test_json_logs_outside_development_unless_told(settings: Settings) -> None:
    assert settings.json_logs  # the test environment reads as production does
    assert not settings.model_copy(update={"environment": "development"}).json_logs
    assert not settings.model_copy(update={"log_format": "text"}).json_logs
    record = logging.LogRecord("cers.web", logging.INFO, __file__, 1, "a %s", ("b",), None)
    WithRequestId().filter(record)
    assert json.loads(formatter(json_lines=True).format(record)) == {
        "time": json.loads(formatter(json_lines=True).format(record))["time"],
        "level": "INFO",
        "logger": "cers.web",
        "message": "a b",
        "request_id": "-",
    }
    assert formatter(json_lines=False).format(record).endswith("INFO cers.web [-] a b")


async def test_the_worker_process_serves_its_probes_and_logs_json(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    """``python worker.py`` as compose runs it: its probe port answers, its lines are JSON."""
    log = tmp_path / "worker.log"
    env = worker_environment(client, settings)
    async with (
        started((sys.executable, "worker.py"), env, log, b"worker polling"),
        httpx2.AsyncClient() as http,
    ):
        found = re.search(rb"worker probes on port (\d+)", log.read_bytes())
        assert found, log.read_text()
        base = f"http://127.0.0.1:{int(found.group(1))}"
        assert (await http.get(f"{base}/healthz")).text == "ok"
        ready = await http.get(f"{base}/readyz")
        assert ready.json() == {"temporal": "ok", "database": "ok", "smtp": "ok"}
        assert "cers_open_journeys" in (await http.get(f"{base}/metrics")).text
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r["message"].startswith("worker polling") for r in lines)


def test_successful_probes_stay_out_of_the_access_log() -> None:
    redact_access_log()
    access = logging.getLogger(ACCESS_LOGGER)

    def logged(target: str, status: int) -> bool:
        args = ("127.0.0.1:5000", "GET", target, "1.1", status)
        record = access.makeRecord(access.name, logging.INFO, __file__, 1, "%s", args, None)
        return bool(access.filter(record))

    assert not logged("/healthz", 200) and not logged("/readyz", 200)
    assert logged("/readyz", 503)  # a failed probe is worth a line
    assert logged("/en/login", 200)


async def test_e_mail_attempts_are_counted_sent_retried_and_failed(smtp: MailCatcher) -> None:
    def count(name: str, kind: str) -> float:
        return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0

    kind = f"send_{uuid.uuid4().hex[:6]}"
    env = ActivityEnvironment()
    message = EmailTemplates("CERS <no-reply@cers.example.ca>").compose(
        language="en", to=new_address(), subject="Test", template="resume", context={"link": "x"}
    )
    down = CountedSender(SmtpSender("127.0.0.1", free_port(), timeout=2))  # nothing listens
    env.info = replace(env.info, activity_type=kind, attempt=1)
    with pytest.raises(MailNotSent):
        await env.run(down.send, message)
    env.info = replace(env.info, attempt=2)  # Temporal's retry, to a server that is back
    await env.run(CountedSender(SmtpSender("127.0.0.1", smtp.port)).send, message)
    assert count("cers_emails_failed_total", kind) == 1
    assert count("cers_email_retries_total", kind) == 1
    assert count("cers_emails_sent_total", kind) == 1

    # Taken by the server, then the outbox's row could not be written: sent, not failed.
    async def outbox_down() -> None:
        raise OperationalError("INSERT INTO mail_outbox", None, Exception("database is locked"))

    env.info = replace(env.info, attempt=1)
    up = CountedSender(SmtpSender("127.0.0.1", smtp.port))
    with pytest.raises(OperationalError):
        await env.run(up.send, message, accepted=outbox_down)
    assert count("cers_emails_sent_total", kind) == 2
    assert count("cers_emails_failed_total", kind) == 1
