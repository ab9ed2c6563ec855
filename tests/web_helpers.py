"""A browser-like client for the site (follows redirects, reads forms from the parsed HTML), and
the walks through the site that more than one test module takes."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode
from sqlalchemy import Engine
from temporalio.client import Client

from core.crypto import KeyRing
from db.engine import make_engine
from db.sessions import load_session
from settings import Settings
from tests.journeys import PASSWORD
from web.app import create_app
from web.session_middleware import COOKIE
from workflows import rules


def element(html: HTMLParser | LexborNode, selector: str) -> LexborNode:
    """The first node ``selector`` matches, which the test expects to be there."""
    node = html.css_first(selector)
    assert node is not None, f"no {selector}"
    return node


class Page:
    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.url = str(response.url)
        self.html = HTMLParser(response.text)

    def text(self, selector: str) -> str:
        node = self.html.css_first(selector)
        assert node is not None, f"no {selector} on {self.url}"
        return " ".join(node.text(separator=" ").split())

    @property
    def h1(self) -> str:
        return self.text("h1")

    def texts(self, selector: str) -> list[str]:
        return [" ".join(n.text(separator=" ").split()) for n in self.html.css(selector)]

    def form(self, action_contains: str = "") -> tuple[str, dict[str, str]]:
        for form in self.html.css("form"):
            action = form.attributes.get("action") or ""
            if action_contains in action:
                fields = {
                    str(i.attributes.get("name")): str(i.attributes.get("value") or "")
                    for i in form.css("input[type=hidden]")
                }
                return action, fields
        raise AssertionError(f"no form posting to *{action_contains}* on {self.url}")

    def field_error(self, name: str) -> str:
        return self.text(f"#{name}-error")


class Browser:
    def __init__(self, http: httpx2.AsyncClient, app: FastAPI, engine: Engine) -> None:
        self.http = http
        self.app = app  # the site it talks to, for a test that swaps one of its parts
        self.engine = engine

    def session(self) -> dict[str, Any]:
        """What the server keeps for this browser's session id (tests only)."""
        session_id = self.http.cookies.get(COOKIE)
        row = load_session(self.engine, session_id) if session_id else None
        data: dict[str, Any] = json.loads(row.data) if row else {}
        return data

    def session_journey(self) -> str:
        return str(self.session()["journey"])

    async def get(self, url: str) -> Page:
        return Page(await self.http.get(url))

    async def submit(
        self, page: Page, action_contains: str = "", data: dict[str, Any] | None = None
    ) -> Page:
        action, fields = page.form(action_contains)
        return Page(await self.http.post(action, data={**fields, **(data or {})}))


def routes_app() -> FastAPI:
    """The app as its routes stand, for a test that reads them (no server, no database)."""
    return create_app(
        Settings(
            environment="test",
            secret_key=SecretStr(secrets.token_urlsafe(32)),
            payload_keys=SecretStr(KeyRing.new_key_text("routes")),
            database_url="sqlite:///:memory:",
        )
    )


@asynccontextmanager
async def browser(
    settings: Settings,
    client: Client,
    clock: Callable[[], float] = time.time,
    overrides: dict[Callable[..., Any], Callable[..., Any]] | None = None,
    tracer_provider: TracerProvider | None = None,
) -> AsyncIterator[Browser]:
    """The real app in process, with a real worker behind it where the test runs one;
    ``overrides`` replace FastAPI dependencies (a test's stand-in for today's code)."""
    app = create_app(settings, client, clock, tracer_provider)
    app.dependency_overrides.update(overrides or {})
    engine = make_engine(settings.sqlalchemy_url)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://testserver", follow_redirects=True
        ) as http:
            yield Browser(http, app, engine)
    engine.dispose()


def link_in(message_text: str) -> str:
    match = re.search(r"http://testserver(/\w\w/confirm/\S+)", message_text)
    assert match, message_text
    return match.group(1)


# Recovery question -> answer, as the web tests give them.
ANSWERS = {
    "first_pet": "Rex the dog",
    "first_school": "Lord Byng",
    "childhood_street": "Elm Street",
}


async def create_user_account(
    b: Browser,
    lang: str,
    email: str,
    *,
    given_name: str = "Jean",
    family_name: str = "Exporter",
    time_zone: str = "America/Toronto",
) -> Page:
    """Create User Account over the site, in the page's language."""
    fields = {
        "given_name": given_name,
        "family_name": family_name,
        "email": email,
        "telephone": "",
        "time_zone": time_zone,
        "language": lang,
    }
    return await b.submit(await b.get(f"/{lang}/cers/account"), "account", fields)


def answers_for(page: Page) -> list[str]:
    """Answers the recovery questions the page asks, in its order."""
    by_text = {rules.RECOVERY_QUESTIONS[q]: a for q, a in ANSWERS.items()}
    labels = [label.replace(" (required)", "") for label in page.texts("label[for^=answer_]")]
    return [by_text[label] for label in labels]


async def sign_up(b: Browser, lang: str, username: str, email: str = "") -> Page:
    """GCKey Sign Up over the site, to "Your GCKey has been issued"."""
    page = await b.get(f"/{lang}/login")
    page = await b.get(f"/{lang}/gckey/sign-in")
    page = await b.submit(page, "sign-up")
    page = await b.submit(page, "terms", {"decision": "accept"})
    page = await b.submit(page, "username", {"username": username})
    page = await b.submit(page, "password", {"password": PASSWORD, "confirmation": PASSWORD})
    page = await b.submit(
        page,
        "recovery",
        {"question": list(ANSWERS), "answer": list(ANSWERS.values()), "hint": ["", "", ""]},
    )
    return await b.submit(page, "recovery-email", {"email": email})
