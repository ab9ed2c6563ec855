"""The application database stops answering under the site (found by benchmarks/chaos.py's
database cut: every page was a bare 500, with a traceback, for as long as it lasted). Now the
person gets the "something went wrong, nothing you entered has been lost" page in their
language, and once the database is back the same button goes through. The database is a real
PostgreSQL reached through a relay that is cut; PostgreSQL itself keeps running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from temporalio.client import Client

from devstack.faults import TcpRelay, relay_to
from settings import Settings
from tests.conftest import NewWorker
from tests.web_helpers import browser


@pytest.fixture
async def relay(database_url: str) -> AsyncIterator[tuple[TcpRelay, str]]:
    """The test's PostgreSQL schema, reached through a relay that can be cut."""
    target = urlsplit(database_url).netloc.split("@")[1]
    async with relay_to(target) as relay:
        yield relay, database_url.replace(f"@{target}", f"@{relay.address}")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_database_that_does_not_answer_gets_the_clear_page_not_a_500(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    relay: tuple[TcpRelay, str],
) -> None:
    cut, settings.database_url = relay
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await b.get("/fr/gckey/sign-in")  # a session, kept in the database
        assert page.status == 200
        cut.cut()
        # The session cannot be read: answered by the middleware, outside the app.
        failed = await b.get("/fr/gckey/sign-in")
        assert failed.status == 503
        assert failed.h1 == "Un problème est survenu"
        # A form pressed while the database is down: the same page.
        pressed = await b.submit(page, "sign-up")
        assert pressed.status == 503
        assert pressed.h1 == "Un problème est survenu"
        assert "Rien de ce que vous avez saisi n&#39;a été perdu." in pressed.response.text
        cut.restore()
        page = await b.submit(page, "sign-up")
        assert page.h1 == "Conditions d'utilisation"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_session_that_cannot_be_saved_gets_the_clear_page(
    client: Client,
    settings: Settings,
    relay: tuple[TcpRelay, str],
) -> None:
    """A first visit reads no session, but the page's form needs one saved (its CSRF
    token): the page is swapped for the clear one rather than sent with a form that could
    never be accepted."""
    cut, settings.database_url = relay
    async with browser(settings, client) as b:
        cut.cut()
        failed = await b.get("/en/gckey/sign-in")
        assert failed.status == 503
        assert failed.h1 == "Something went wrong"
        assert "set-cookie" not in failed.response.headers
        cut.restore()
        assert (await b.get("/en/gckey/sign-in")).status == 200
