"""The headers the site sends, seen over real HTTP from the site as ``dev.py run`` serves it
(uvicorn in its own process), and an attacker's Host header, which builds no link."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr
from temporalio.client import Client

import dev
from devstack.servers import free_port
from settings import Settings
from tests.broker_process import Broker
from tests.process_helpers import ROOT, site_environment, started
from tests.web_helpers import browser

SITE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
EVIL = "evil.example"


@pytest.fixture
async def served(client: Client, settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """The site in its own process, with the command ``dev.py run`` gives uvicorn."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = site_environment(client, settings, url)
    async with started(dev.web_command(port), env, tmp_path / "web.log", b"startup complete"):
        yield url


async def test_every_response_carries_the_policy_and_names_no_server(served: str) -> None:
    async with httpx2.AsyncClient(base_url=served) as http:
        for path in ("/", "/en/login", "/fr/gckey/sign-in", "/static/cers.js", "/en/nowhere"):
            response = await http.get(path)
            assert "server" not in response.headers, path
            assert response.headers["content-security-policy"] == SITE_POLICY, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert "strict-transport-security" not in response.headers  # http: no HSTS
        assert (await http.get("/en/login")).headers["cache-control"] == "no-store"
        assert (await http.get("/partner/callback?code=c&state=s")).headers["cache-control"] == (
            "no-store"
        )


async def test_an_attackers_host_header_builds_no_link_or_redirect(served: str) -> None:
    async with httpx2.AsyncClient(base_url=served) as http:
        for path in ("/en", "/en/login", "/fr/resume", "/en/staff/sign-in"):
            response = await http.get(path, headers={"Host": EVIL})
            assert response.status_code == 400, path
            assert EVIL not in response.text and EVIL not in str(response.headers), path
            assert "server" not in response.headers and "content-security-policy" in (
                response.headers
            )
        # The site's own name still works, and its redirect names it.
        home = await http.get("/en")
        assert home.status_code == 303
        assert home.headers["location"] == f"{served}/en/login"


def test_every_command_serves_the_site_through_web_serve() -> None:
    """web/serve.py is where uvicorn drops its banner (the served site above shows it) and
    gets its graceful shutdown: the image, compose and ``dev.py run`` all start it."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    lines = (dockerfile + compose).splitlines()
    commands = [line for line in lines if '"uvicorn"' in line or '"web.serve"' in line]
    assert len(commands) == 2, commands  # the image's default, and compose's web service
    assert all('"-m", "web.serve"' in line for line in commands)
    assert dev.web_command(8000)[:3] == [sys.executable, "-m", "web.serve"]


async def test_https_brings_hsts_and_secure_cookies(client: Client, settings: Settings) -> None:
    assert not settings.secure_cookies
    assert Settings(public_url="http://cers.example", https_only_cookies=True).secure_cookies
    settings.public_url = "https://cers.example"
    assert settings.secure_cookies
    async with browser(settings, client) as b:
        b.http.base_url = httpx2.URL("https://cers.example")
        response = (await b.get("/en/login")).response
        assert response.status_code == 200
        assert response.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )
        assert "; secure" in response.headers["set-cookie"].lower()


async def test_allowed_hosts_names_more_hosts_and_no_others(
    client: Client, settings: Settings
) -> None:
    settings.allowed_hosts = "localhost, cers.internal"
    async with browser(settings, client) as b:
        for host, status in (("localhost", 200), ("cers.internal", 200), (EVIL, 400)):
            b.http.base_url = httpx2.URL(f"http://{host}")
            assert (await b.get("/en/login")).status == status, host


async def test_the_login_page_may_send_its_form_on_to_the_sign_in_partner(
    client: Client, settings: Settings, broker: Broker
) -> None:
    """The Sign-In Partner button posts here, and the answer redirects to the partner: the
    policy names the partner's origin for that, and nothing else."""
    settings.partner_issuer = broker.issuer
    settings.partner_client_id = broker.client_id
    settings.partner_client_secret = SecretStr(broker.client_secret)
    async with browser(settings, client) as b:
        policy = (await b.get("/en/login")).response.headers["content-security-policy"]
    assert re.search(rf"form-action 'self' {re.escape(broker.issuer)};", policy)
