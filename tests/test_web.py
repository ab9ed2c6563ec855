"""The whole journey over HTTP: the app, a real worker, the real Temporal dev server,
real SQLite and a real SMTP server whose message carries the link the test follows."""

from __future__ import annotations

import re
import uuid

from temporalio.client import Client

from settings import Settings
from tests.conftest import MailCatcher, NewWorker
from tests.web_helpers import Browser, Page, browser

PASSWORD = "Maple2Leaf9x"


def link_in(message_text: str) -> str:
    match = re.search(r"http://testserver(/\w\w/confirm/\S+)", message_text)
    assert match, message_text
    return match.group(1)


async def sign_up(b: Browser, lang: str, username: str) -> Page:
    page = await b.get(f"/{lang}/login")
    page = await b.get(f"/{lang}/gckey/sign-in")
    page = await b.submit(page, "sign-up")
    page = await b.submit(page, "terms", {"decision": "accept"})
    page = await b.submit(page, "username", {"username": username})
    page = await b.submit(page, "password", {"password": PASSWORD, "confirmation": PASSWORD})
    page = await b.submit(
        page,
        "recovery",
        {
            "question": ["first_pet", "first_school", "childhood_street"],
            "answer": ["Rex the dog", "Lord Byng", "Elm Street"],
            "hint": ["", "", ""],
        },
    )
    return await b.submit(page, "recovery-email", {"email": ""})


async def test_whole_journey_in_english(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    username = f"Exp{uuid.uuid4().hex[:8]}"
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await sign_up(b, "en", username)
        assert page.h1 == "Your GCKey has been issued"
        page = await b.submit(page, "issued")
        assert page.h1 == "Welcome to CERS"
        page = await b.get("/en/cers/account")
        page = await b.submit(
            page,
            "account",
            {
                "given_name": "Jean",
                "family_name": "Exporter",
                "email": address,
                "telephone": "",
                "time_zone": "America/Halifax",
                "language": "en",
            },
        )
        assert page.h1 == "Your user account is now created"
        urn = page.text("strong.urn")
        assert page.text(".who-urn").endswith(urn)
        (message,) = await smtp.wait_for(address)
        text = message.get_body(preferencelist=("plain",)).get_content()
        page = await b.get(link_in(text))
        page = await b.submit(page, "confirm")
        assert page.h1 == "Your e-mail address is confirmed"
        page = await b.get("/en/portal")
        assert "was confirmed on" in page.text(".status.ok")
        assert "You are now ready to be linked to a CERS portal business account." in page.response.text

        # A returning user signs in with the GCKey and lands on the portal.
        page = await b.submit(page, "sign-out")
        assert page.h1 == "You have signed out"
        page = await b.get("/en/gckey/sign-in")
        page = await b.submit(page, "sign-in", {"username": username.upper(), "password": "wrong"})
        assert page.status == 400
        assert page.field_error("sign_in") == (
            "Error: The username or password you entered is incorrect."
        )
        page = await b.submit(page, "sign-in", {"username": username, "password": PASSWORD})
        assert page.h1 == "CERS portal"
        assert page.text(".who-name") == "Jean Exporter"
