"""What the logs hold after a whole journey over real HTTP: the site under a real uvicorn with
its access log on, a real worker, real SMTP, the real stand-in Sign-In Partner process. No
token, code, state, search term or personal detail may be in any record."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.email import EmailTemplates, MailNotSent, SmtpSender
from db.engine import make_engine
from devstack.servers import free_port
from settings import Settings
from tests.broker_process import Broker, sign_in
from tests.conftest import MailCatcher, NewWorker, text_of, until
from tests.journeys import PASSWORD
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import ANSWERS, Browser, Page, create_user_account
from web.app import create_app
from web.logs import REDACTED, redact
from workflows.types import MAIL_REFUSED

# Not the site's: the test's SMTP server (aiosmtpd, the mail server) logs every recipient, and
# httpcore2 the connections of every HTTP client. httpx2 is both the site's (its calls to the
# Sign-In Partner, which are the site's log) and the test's browser (Captured.browsing).
OTHERS = ("httpcore2", "mail")
# The level the worker and uvicorn run at (worker.py, uvicorn's default). Below it the Temporal
# SDK prints every activity's result payload, as history holds it.
LEVEL = logging.INFO


class Captured(logging.Handler):
    """Every record, as a log shipper would see it: the line and all the record's fields."""

    def __init__(self) -> None:
        super().__init__(LEVEL)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        # What the test's browser fetches (the site, the partner's sign-in pages): its
        # requests, not the site's. The site's own to the partner stay in the log.
        self.browsing: tuple[str, ...] = ()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in OTHERS:
            return
        args = record.args if isinstance(record.args, tuple) else ()
        if record.name == "httpx2" and any(str(a).startswith(self.browsing) for a in args if a):
            return
        self.lines.append(f"{self.format(record)} {vars(record)!r}")


@dataclass
class Site:
    url: str
    app: FastAPI
    settings: Settings
    logs: Captured
    broker: Broker

    def text(self) -> str:
        return "\n".join(self.logs.lines) + self.broker.log_file.read_text()


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    level = root.level
    root.setLevel(LEVEL)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def site(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    tmp_path: Path,
    captured: Captured,
) -> AsyncIterator[Site]:
    """The app on a real port with uvicorn's own logging and access log, as production runs
    it, and a Sign-In Partner registered for its callback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        broker = Broker(
            issuer=f"http://127.0.0.1:{free_port()}",
            client_id="cers-logs",
            client_secret="logs-secret",
            redirect_uri=f"{url}/partner/callback",
            pairwise_secret="logs-pairwise-secret",
            key_file=tmp_path / "broker-key.json",
            log_file=tmp_path / "broker.log",
        )
        captured.browsing = (url, f"{broker.issuer}/authorize", f"{broker.issuer}/sign-in/")
        settings = settings.model_copy(
            update={
                "public_url": url,
                "partner_issuer": broker.issuer,
                "partner_client_id": broker.client_id,
                "partner_client_secret": SecretStr(broker.client_secret),
            }
        )
        app = create_app(settings, client)
        config = uvicorn.Config(app, log_level="info", ws="none")
        # uvicorn's configuration stops its loggers propagating: listen to them directly.
        uvicorn_loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.access")]
        for logger in uvicorn_loggers:
            logger.addHandler(captured)
        server = uvicorn.Server(config)
        broker.start()
        try:
            async with new_worker(client, settings):
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                await until(lambda: server.started or serving.done(), what="the site to listen")
                assert server.started, serving
                yield Site(url, app, settings, captured, broker)
                server.should_exit = True
                await serving
        finally:
            broker.stop()
            for logger in uvicorn_loggers:
                logger.removeHandler(captured)


def link(message_text: str, kind: str) -> tuple[str, str]:
    """The path of the e-mail's link of that kind, and its token."""
    match = re.search(rf"https?://[^/\s]+(/\w\w/{kind}/(\S+))", message_text)
    assert match, message_text
    return match.group(1), match.group(2)


async def test_a_whole_journey_leaves_no_secret_or_personal_detail_in_any_log(
    site: Site, smtp: MailCatcher
) -> None:
    staff = Staff(site.settings)
    engine = make_engine(site.settings.sqlalchemy_url)  # where the sessions are kept
    username = f"Log{uuid.uuid4().hex[:7]}"
    address = f"{uuid.uuid4().hex[:10]}@example.ca"
    async with (
        httpx2.AsyncClient(base_url=site.url, follow_redirects=True) as person_http,
        httpx2.AsyncClient(base_url=site.url, follow_redirects=True) as desk_http,
        httpx2.AsyncClient(base_url=site.url, follow_redirects=True) as partner_http,
    ):
        person, desk = Browser(person_http, site.app, engine), Browser(desk_http, site.app, engine)
        # Sign Up on one device, left after the GCKey was issued; support e-mails a link back
        # to its recovery address; the link leads to signing in, and on to the next step.
        page = await person.submit(await person.get("/en/gckey/sign-in"), "sign-up")
        page = await person.submit(page, "terms", {"decision": "accept"})
        assert page.h1 == "Create Your Username"
        journey_id = person.session_journey().removeprefix("onboarding-")
        page = await person.submit(page, "username", {"username": username})
        page = await person.submit(
            page, "password", {"password": PASSWORD, "confirmation": PASSWORD}
        )
        page = await person.submit(
            page,
            "recovery",
            {"question": list(ANSWERS), "answer": list(ANSWERS.values()), "hint": ["", "", ""]},
        )
        page = await person.submit(page, "recovery-email", {"email": address})
        assert page.h1 == "Your GCKey has been issued"
        await staff_sign_in(desk, staff.support)
        page = await desk.get(f"/en/staff/journeys/{journey_id}")
        page = await desk.submit(
            page, "actions/send_resume_link", {"reason": "Asked by phone", "email": address}
        )
        assert page.text(".staff-actions .notice") == "Done: Send a link to continue the journey."
        (resume_mail,) = await smtp.wait_for(address)
        resume_path, resume_token = link(text_of(resume_mail), "resume")
        page = await person.submit(await person.get(resume_path), "resume")
        page = await person.submit(page, "sign-in", {"username": username, "password": PASSWORD})
        assert page.h1 == "Welcome to CERS"
        page = await create_user_account(
            person,
            "en",
            address,
            given_name="Jean",
            family_name="Exporter",
            time_zone="America/Halifax",
        )
        urn = page.text("strong.urn").replace(" ", "")
        _, confirmation = await smtp.wait_for(address, 2)
        confirm_path, confirm_token = link(text_of(confirmation), "confirm")
        page = await person.submit(await person.get(confirm_path), "confirm")
        assert page.h1 == "Your e-mail address is confirmed"

        # Support looks the person up by each thing a search takes.
        for term in (username, address, urn):
            page = await desk.get(f"/en/staff/search?q={term}")
            assert page.h1 != "Search", term  # found: the journey's page

        # A Sign-In Partner round trip: the callback carries the code and the state.
        partner = Browser(partner_http, site.app, engine)
        login_page = await partner.get("/en/login")
        action, fields = login_page.form("sign-in-partner")
        answer = await partner_http.post(action, data=fields, follow_redirects=False)
        callback = await sign_in(answer.headers["location"])
        query = parse_qs(urlsplit(callback).query)
        code, state = query["code"][0], query["state"][0]
        page = Page(await partner_http.get(callback))
        assert page.h1 == "Welcome to CERS"

    engine.dispose()
    await until(lambda: "GET /partner/callback" in site.text(), what="the callback's access line")
    logs = site.text()
    secrets = {
        "the confirmation token": confirm_token,
        "the resume token": resume_token,
        "the Sign-In Partner's code": code,
        "the Sign-In Partner's state": state,
        "the username": username,
        "the e-mail address": address,
        "the e-mail address, encoded": address.replace("@", "%40"),
        "the URN": urn,
        "the password": PASSWORD,
        **{f"recovery answer {n}": answer for n, answer in enumerate(ANSWERS.values())},
    }
    leaked = [what for what, value in secrets.items() if value in logs]
    lines = [line[:300] for line in logs.splitlines() if any(v in line for v in secrets.values())]
    assert not leaked, f"in the logs: {', '.join(leaked)}\n" + "\n".join(lines)
    # The access log was on and saw each of them, with nothing of what they carried.
    assert f"/en/confirm/{REDACTED}" in logs and f"/en/resume/{REDACTED}" in logs
    assert f"/en/staff/search?q={REDACTED}" in logs
    assert f"/partner/callback?code={REDACTED}&state={REDACTED}" in logs


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/en/confirm/abc.def-ghi", f"/en/confirm/{REDACTED}"),
        ("/fr/confirm/abc.def/new-link", f"/fr/confirm/{REDACTED}/new-link"),
        ("/en/resume/abc.def", f"/en/resume/{REDACTED}"),
        ("/en/staff/search?q=a%40b.ca&x=", f"/en/staff/search?q={REDACTED}&x={REDACTED}"),
        ("/partner/callback?code=c&state=s", f"/partner/callback?code={REDACTED}&state={REDACTED}"),
        ("/en/gckey/username", "/en/gckey/username"),
    ],
)
def test_targets_keep_their_shape_and_lose_what_they_carry(target: str, logged: str) -> None:
    assert redact(target) == logged


def test_every_route_with_a_token_in_its_path_is_redacted(settings: Settings) -> None:
    app = create_app(settings)
    paths = [route.path or "" for route in iter_route_contexts(app.routes)]
    with_token = [path for path in paths if "{token}" in path]
    assert len(with_token) >= 3, with_token  # confirm, its new link, resume
    for path in with_token:
        example = path.replace("{lang}", "en").replace("{token}", "SECRET-TOKEN")
        assert "SECRET-TOKEN" not in redact(example), path


class RefusingServer:
    """A mail server that refuses every recipient and, as many do, repeats the address."""

    def __init__(self, code: int) -> None:
        self.code = code

    async def handle_RCPT(
        self, server: object, session: object, envelope: object, address: str, options: object
    ) -> str:
        return f"{self.code} 5.1.1 <{address}>: Recipient address rejected"


# A 5xx is for good: the journey's business error (MailRefused), not retried; a 4xx may pass.
@pytest.mark.parametrize(("code", "raised"), [(550, ApplicationError), (450, MailNotSent)])
async def test_a_refused_recipient_is_reported_without_the_address(
    code: int, raised: type[Exception]
) -> None:
    catcher = Controller(RefusingServer(code), hostname="127.0.0.1", port=free_port())
    catcher.start()
    address = f"{uuid.uuid4().hex[:10]}@example.ca"
    message = EmailTemplates("CERS <no-reply@cers.example.ca>").compose(
        language="en",
        to=address,
        subject="Continue your CERS registration",
        template="resume",
        context={"link": "http://testserver/en/resume/x"},
    )
    try:
        with pytest.raises(raised) as refused:
            await SmtpSender("127.0.0.1", catcher.port).send(message)
    finally:
        catcher.stop()
    if isinstance(refused.value, ApplicationError):
        assert (refused.value.type, refused.value.non_retryable) == (MAIL_REFUSED, True)
    # What the worker logs and history keeps: the exception and its whole traceback.
    told = "".join(traceback.format_exception(refused.value))
    assert str(code) in told and "Recipient address rejected" in told
    assert address not in told
