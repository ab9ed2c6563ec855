"""An HTTP load driver: simulated people walking the whole GCKey journey over real HTTP.

Each person is a browser of their own (cookies, keep-alive): the login page, GCKey Sign In,
Sign Up, the terms, a username, a password, three recovery answers, the recovery e-mail step,
Continue (signed in), Create User Account, the confirmation link out of the real SMTP mailbox,
and the portal. Every request is timed and recorded with its status and the page the person
landed on; redirects are followed by hand, so each counts as a request of its own, as in a
browser. A step named in ``repeat`` is pressed again (the same POST, same form fields) once the
first press answered, as a person does after a lost answer, and the walk goes on from the page
the second press shows.

    from benchmarks.driver import Mailbox, drive
    journeys = await drive(site_url, mailbox, people=50, concurrency=16)

benchmarks/load.py prints what it records; the chaos benchmark (issue 13) reuses it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from email.message import EmailMessage
from mailbox import Maildir
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx2
from selectolax.lexbor import LexborHTMLParser

from devstack.servers import MailServer
from workflows import rules

PASSWORD = "Quoll7Mynx"  # no 3-character run of it can occur in a generated username
ANSWERS = ["Rex the dog", "Lord Byng", "Elm Street"]
LINK = re.compile(r"https?://[^/\s]+(/\w\w/confirm/[^\s<>\"]+)")
# The button a person presses, by the step's name in the records (and in ``repeat``).
STEPS = (
    "sign up",
    "terms",
    "username",
    "password",
    "recovery answers",
    "recovery e-mail",
    "continue",
    "create user account",
    "confirm e-mail",
)


class Mailbox(Protocol):
    """Where the confirmation e-mails arrive."""

    async def confirmation_link(self, address: str, timeout: float) -> str:
        """The path of the newest confirmation link sent to ``address``; waits for it."""
        ...


def link_in(message: EmailMessage) -> str | None:
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found = LINK.search(str(part.get_content()))
            if found:
                return found.group(1)
    return None


class KeepingMailServer(MailServer):
    """devstack's SMTP server, keeping each recipient's confirmation links in memory."""

    def __init__(self) -> None:
        super().__init__()
        self._links: dict[str, list[str]] = {}
        self._lock = threading.Lock()  # aiosmtpd answers on a thread of its own
        self.messages = 0

    def received(self, content: bytes) -> None:
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        link = link_in(message)
        with self._lock:
            self.messages += 1
            if link:
                self._links.setdefault(str(message["To"]).lower(), []).append(link)

    async def confirmation_link(self, address: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                links = self._links.get(address.lower())
                if links:
                    return links[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no confirmation e-mail within {timeout}s")
            await asyncio.sleep(0.05)


class MaildirMailbox:
    """The Maildir that ``dev.py run``'s SMTP catcher writes (settings.mail_dir)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _find(self, address: str) -> str | None:
        found = None
        for message in Maildir(self.path, create=False):
            parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
            if isinstance(parsed, EmailMessage) and address.lower() in str(parsed["To"]).lower():
                found = link_in(parsed) or found
        return found

    async def confirmation_link(self, address: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (link := await asyncio.to_thread(self._find, address)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no confirmation e-mail within {timeout}s")
            await asyncio.sleep(0.2)
        return link


def username() -> str:
    """A fresh username the rules accept: letters only (at most 7 digits are allowed), and no
    3-character run shared with the password."""
    while True:
        name = "Load" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
        if not rules.shares_run(PASSWORD, name, rules.USERNAME_OVERLAP):
            return name


@dataclass
class Request:
    """One request a person made."""

    step: str  # "GET terms", "POST username", "POST username (again)"
    status: int
    ms: float
    page: str  # the path it answered from (a redirect's own path; its Location is the next)
    error: str = ""


@dataclass
class Journey:
    person: int
    requests: list[Request] = field(default_factory=list)
    finished: bool = False
    error: str = ""
    seconds: float = 0.0
    username: str = ""
    email: str = ""

    @property
    def pages(self) -> list[str]:
        """The pages the person saw, in order (redirects left out)."""
        return [r.page for r in self.requests if r.status < 300 or r.status >= 400]


class WalkFailed(Exception):
    """The person could not go on: the page they got is not the one the journey leads to."""


class Page:
    def __init__(self, response: httpx2.Response) -> None:
        self.path = response.url.path
        self.status = response.status_code
        self.html = LexborHTMLParser(response.text)

    def form(self, action_contains: str) -> tuple[str, dict[str, Any]]:
        """The form posting to ``action_contains``: its action and every hidden field (the
        CSRF token, and whatever per-form token the site adds)."""
        for form in self.html.css("form"):
            action = form.attributes.get("action") or ""
            if action_contains in action:
                hidden = {
                    str(i.attributes.get("name")): str(i.attributes.get("value") or "")
                    for i in form.css("input[type=hidden]")
                    if i.attributes.get("name")
                }
                return urlsplit(action).path, hidden
        raise WalkFailed(f"no form posting to *{action_contains}* on {self.path} ({self.status})")

    def said(self) -> str:
        """What the page says went wrong: its error summary, or its heading."""
        node = self.html.css_first(".error-summary") or self.html.css_first("h1")
        return node.text(separator=" ") if node else ""

    def options(self, select: str) -> list[str]:
        node = self.html.css_first(f"select[name={select}]")
        values = [o.attributes.get("value") or "" for o in node.css("option")] if node else []
        return [v for v in values if v]


class Person:
    """One browser walking the journey."""

    def __init__(
        self,
        number: int,
        http: httpx2.AsyncClient,
        mailbox: Mailbox,
        repeat: Collection[str],
        mail_timeout: float,
    ) -> None:
        self.http = http
        self.mailbox = mailbox
        self.repeat = repeat
        self.mail_timeout = mail_timeout
        self.journey = Journey(
            number, username=username(), email=f"load-{uuid.uuid4().hex}@example.ca"
        )

    async def _send(self, step: str, method: str, url: str, data: Any = None) -> httpx2.Response:
        start = time.perf_counter()
        try:
            response = await self.http.request(method, url, data=data)
        except httpx2.HTTPError as err:
            ms = (time.perf_counter() - start) * 1000
            self.journey.requests.append(Request(step, 0, ms, url, type(err).__name__))
            raise WalkFailed(f"{step}: {type(err).__name__}") from err
        ms = (time.perf_counter() - start) * 1000
        self.journey.requests.append(Request(step, response.status_code, ms, response.url.path))
        return response

    async def _follow(self, step: str, response: httpx2.Response) -> Page:
        """The page a response leads to, GETting each redirect as a browser does."""
        while response.is_redirect:
            location = urlsplit(response.headers["location"]).path
            response = await self._send(f"GET {location}", "GET", location)
        if response.status_code >= 400:
            said = " ".join(Page(response).said().split())[:200]
            raise WalkFailed(f"{step}: HTTP {response.status_code} on {response.url.path}: {said}")
        return Page(response)

    async def get(self, url: str) -> Page:
        return await self._follow(f"GET {url}", await self._send(f"GET {url}", "GET", url))

    async def press(self, page: Page, step: str, action: str, fields: dict[str, Any]) -> Page:
        """Submits the form on ``page``; again, if the step is to be repeated."""
        url, hidden = page.form(action)
        data = {**hidden, **fields}
        landed = await self._follow(step, await self._send(f"POST {step}", "POST", url, data))
        if step in self.repeat:
            again = await self._send(f"POST {step} (again)", "POST", url, data)
            landed = await self._follow(f"{step} (again)", again)
        return landed

    def expect(self, page: Page, path_end: str) -> None:
        if not page.path.endswith(path_end):
            raise WalkFailed(f"expected {path_end}, saw {page.path}")

    async def walk(self) -> Journey:
        start = time.perf_counter()
        try:
            await self._walk()
            self.journey.finished = True
        except (WalkFailed, TimeoutError) as err:
            self.journey.error = str(err)
        self.journey.seconds = time.perf_counter() - start
        return self.journey

    async def _walk(self) -> None:
        j = self.journey
        await self.get("/en/login")
        page = await self.get("/en/gckey/sign-in")
        page = await self.press(page, "sign up", "sign-up", {})
        self.expect(page, "/terms")
        page = await self.press(page, "terms", "terms", {"decision": "accept"})
        self.expect(page, "/username")
        page = await self.press(page, "username", "username", {"username": j.username})
        self.expect(page, "/password")
        page = await self.press(
            page, "password", "password", {"password": PASSWORD, "confirmation": PASSWORD}
        )
        self.expect(page, "/recovery")
        questions = page.options("question")[: len(ANSWERS)]
        recovery = {"question": questions, "answer": ANSWERS, "hint": [""] * len(ANSWERS)}
        page = await self.press(page, "recovery answers", "recovery", recovery)
        self.expect(page, "/recovery-email")
        page = await self.press(page, "recovery e-mail", "recovery-email", {"email": ""})
        self.expect(page, "/issued")
        page = await self.press(page, "continue", "issued", {})
        self.expect(page, "/welcome")
        page = await self.get("/en/cers/account")
        account = {
            "given_name": "Load",
            "family_name": "Driver",
            "email": j.email,
            "telephone": "",
            "time_zone": "America/Toronto",
            "language": "en",
        }
        page = await self.press(page, "create user account", "account", account)
        self.expect(page, "/account/created")
        link = await self.mailbox.confirmation_link(j.email, self.mail_timeout)
        page = await self.get(link)
        page = await self.press(page, "confirm e-mail", "confirm", {})
        page = await self.get("/en/portal")
        self.expect(page, "/portal")


async def drive(
    base_url: str,
    mailbox: Mailbox,
    *,
    people: int,
    concurrency: int,
    repeat: Collection[str] = (),
    mail_timeout: float = 60,
    request_timeout: float = 30,
) -> list[Journey]:
    """``people`` journeys, at most ``concurrency`` walking at once; every journey recorded,
    finished or not."""
    unknown = set(repeat) - set(STEPS)
    if unknown:
        raise ValueError(f"no such step to repeat: {sorted(unknown)}; the steps: {STEPS}")
    gate = asyncio.Semaphore(concurrency)

    async def one(number: int) -> Journey:
        async with gate, httpx2.AsyncClient(base_url=base_url, timeout=request_timeout) as http:
            return await Person(number, http, mailbox, repeat, mail_timeout).walk()

    return list(await asyncio.gather(*(one(n) for n in range(people))))
