"""Real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the site
served over real HTTP by uvicorn, with a real worker on the dev server behind it.

Fixtures only, taken as a plugin: ``pytest_plugins = ["tests.browser_helpers"]``. A module that
takes them must not also import from here, or pytest warns (an error here) that it can no longer
rewrite this module's asserts.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from pydantic import SecretStr
from temporalio.client import Client

from devstack.servers import free_port
from settings import Settings
from tests.broker_process import Broker
from tests.conftest import NewWorker, until
from web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
# Nothing may reach the network: no updates, no sync, no background requests.
CHROMIUM_ARGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
    "--disable-background-networking --disable-component-update --disable-sync"
).split()


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium); the browser tests need it"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        # Each launch gets a fresh temporary profile (user data dir), removed at close.
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def site(
    request: pytest.FixtureRequest,
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    tmp_path: Path,
) -> AsyncIterator[str]:
    """The app on a real 127.0.0.1 port; the e-mail links point at it. Parametrized indirectly
    with "partner", it also has a Sign-In Partner: the stand-in, registered for this address."""
    with socket.socket() as sock:  # bound here, so no other process can take the port first
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = settings.model_copy(update={"public_url": url})
        broker = None
        if getattr(request, "param", None) == "partner":
            broker = partner_for(url, tmp_path)
            broker.start()
            settings = settings.model_copy(
                update={
                    "partner_issuer": broker.issuer,
                    "partner_client_id": broker.client_id,
                    "partner_client_secret": SecretStr(broker.client_secret),
                }
            )
        config = uvicorn.Config(
            create_app(settings, client),
            log_level="warning",
            access_log=False,
            ws="none",
            server_header=False,  # as dev.py, the Dockerfile and docker-compose.yml serve it
        )
        server = uvicorn.Server(config)
        try:
            async with new_worker(client, settings):
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                await until(lambda: server.started or serving.done(), what="the site to listen")
                assert server.started, serving
                yield url
                server.should_exit = True
                await serving
        finally:
            if broker is not None:
                broker.stop()


def partner_for(url: str, directory: Path) -> Broker:
    return Broker(
        issuer=f"http://127.0.0.1:{free_port()}",
        client_id="cers-browser",
        client_secret="browser-secret",
        redirect_uri=f"{url}/partner/callback",
        pairwise_secret="browser-pairwise-secret",
        key_file=directory / "broker-key.json",
        log_file=directory / "broker.log",
    )


# Every page, frame and pop-up reports what its Content-Security-Policy blocked.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => console.error(
  `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} on ${e.documentURI}`
));
"""


def violation(text: str) -> bool:
    """The page's own report, or Chromium's (which it prints even when the event is missed)."""
    return text.startswith("CSP violation:") or "Content Security Policy" in text


@pytest.fixture
async def csp_violations() -> list[str]:
    """What the site's policy blocked in the ``page`` fixture's browser; it must stay empty."""
    return []


@pytest.fixture
async def page(chromium: Browser, site: str, csp_violations: list[str]) -> AsyncIterator[Page]:
    context = await chromium.new_context(base_url=site, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    await context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", lambda m: csp_violations.append(m.text) if violation(m.text) else None)
    yield await context.new_page()
    await context.close()
    # Every browser test walks pages with the live checklists, the partner's pages and forms
    # that leave for the partner: none may have been refused anything by the policy.
    assert not csp_violations, "\n".join(csp_violations)
