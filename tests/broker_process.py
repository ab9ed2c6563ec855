"""The stand-in Sign-In Partner as a real process, and a person who signs in through its pages.

The session-scoped ``broker`` fixture runs ``python -m broker`` on a free port; inside
``with broker.down():`` the provider is unreachable, and after it the same key is back.
``await sign_in(authorize_url, login="alex")`` walks the pages as the person and returns the URL
the browser is sent back to; ``cancel_sign_in`` and ``decline_terms`` walk away instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx2
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from devstack.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DEMO_SAVINGS = "demo-savings"
EXAMPLE_CREDIT_UNION = "example-credit-union"
SAMPLE_TRUST = "sample-trust"
STARTUP_TIMEOUT = 15.0


@dataclass
class Broker:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    pairwise_secret: str
    key_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] = field(init=False)

    @property
    def port(self) -> int:
        return httpx2.URL(self.issuer).port or 80

    def start(self) -> None:
        """Starts the process (again) and returns once it answers /health."""
        command = [sys.executable, "-m", "broker", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--issuer", self.issuer, "--client-id", self.client_id]
        command += ["--client-secret", self.client_secret, "--redirect-uri", self.redirect_uri]
        command += ["--pairwise-secret", self.pairwise_secret, "--key-file", str(self.key_file)]
        with self.log_file.open("ab") as log:
            # Warnings are errors here too: one inside a request shows up as a failing response.
            env = {**os.environ, "PYTHONWARNINGS": "error"}
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the broker did not start; see {self.log_file}")
            time.sleep(0.05)  # a polling interval, not a guess at how long start-up takes

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @contextmanager
    def down(self) -> Iterator[None]:
        """The provider is unreachable inside the block; it is back, with the same key, after."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def _healthy(self) -> bool:
        try:
            return httpx2.get(f"{self.issuer}/health", timeout=1).status_code == 200
        except httpx2.TransportError:
            return False


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    directory = tmp_path_factory.mktemp("broker")
    running = Broker(
        issuer=f"http://127.0.0.1:{free_port()}",
        client_id="cers-test",
        client_secret="test-secret",
        redirect_uri="http://testserver/partner/callback",
        pairwise_secret="test-pairwise-secret",
        key_file=directory / "broker-key.json",
        log_file=directory / "broker.log",
    )
    running.start()
    yield running
    running.stop()


def fresh_login() -> str:
    """A customer the broker has never seen: first use, so the terms page comes."""
    return f"customer-{uuid.uuid4().hex[:12]}"


async def sign_in(
    authorize_url: str,
    *,
    login: str | None = None,
    institution: str = DEMO_SAVINGS,
    password: str = "demo",
) -> str:
    """Acts as the person: chooses the institution, signs in, accepts the terms if asked.

    Returns the URL the broker sends the browser back to (code and state, or an error)."""
    async with httpx2.AsyncClient(timeout=10) as browser:
        page = await _follow(browser, await browser.get(authorize_url))
        if page.is_redirect:  # the request was refused straight back to the relying party
            return _location(page)
        page = await _submit(browser, page, "/institution", {"institution": institution})
        fields = {"login": login or fresh_login(), "password": password}
        page = await _submit(browser, page, "/bank", fields)
        if not page.is_redirect and _action(page, "/terms"):
            page = await _submit(browser, page, "/terms", {"decision": "accept"})
        assert page.is_redirect, f"still on the broker's pages: {page.status_code} {page.url}"
        return _location(page)


async def cancel_sign_in(authorize_url: str) -> str:
    """Acts as the person who presses "Cancel and return to the service" on the first page."""
    async with httpx2.AsyncClient(timeout=10) as browser:
        page = await _follow(browser, await browser.get(authorize_url))
        page = await _submit(browser, page, "/cancel", {})
        return _location(page)


async def decline_terms(
    authorize_url: str, *, login: str | None = None, institution: str = DEMO_SAVINGS
) -> str:
    """Acts as a person new to the sign-in service who declines its terms."""
    async with httpx2.AsyncClient(timeout=10) as browser:
        page = await _follow(browser, await browser.get(authorize_url))
        page = await _submit(browser, page, "/institution", {"institution": institution})
        fields = {"login": login or fresh_login(), "password": "demo"}
        page = await _submit(browser, page, "/bank", fields)
        page = await _submit(browser, page, "/terms", {"decision": "decline"})
        return _location(page)


def _location(response: httpx2.Response) -> str:
    assert response.is_redirect, f"expected a redirect, got {response.status_code}"
    return urljoin(str(response.url), response.headers["location"])


def _action(page: httpx2.Response, path_ending: str) -> str | None:
    """Where the page's form whose action path ends so posts to (the pages have no hidden
    fields: the pending request is named in the path)."""
    for form in HTMLParser(page.text).css("form"):
        action = urljoin(str(page.url), form.attributes.get("action") or "")
        if httpx2.URL(action).path.endswith(path_ending):
            return action
    return None


async def _submit(
    browser: httpx2.AsyncClient, page: httpx2.Response, path_ending: str, fields: dict[str, str]
) -> httpx2.Response:
    """Fills and posts a form of the page, then follows redirects that stay on the broker."""
    action = _action(page, path_ending)
    assert action, f"no form posting to *{path_ending} on {page.url} ({page.status_code})"
    return await _follow(browser, await browser.post(action, data=fields))


async def _follow(browser: httpx2.AsyncClient, response: httpx2.Response) -> httpx2.Response:
    """Follows redirects within the broker; stops at one that leaves it (to the relying party)."""
    while response.is_redirect:
        target = httpx2.URL(_location(response))
        if (target.host, target.port) != (response.url.host, response.url.port):
            return response
        response = await browser.get(target)
    return response
