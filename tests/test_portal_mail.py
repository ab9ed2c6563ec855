"""The portal tells the truth about the confirmation e-mail: "being sent" while the mail server
has not accepted it (here it answers 451 first), "was sent" once it has, in both languages."""

from __future__ import annotations

import uuid

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import Client

from devstack.servers import MailServer
from settings import Settings
from tests.conftest import NewWorker, until
from tests.journeys import new_address
from tests.web_helpers import Browser, browser, create_user_account, sign_up


class RefusingFirst(MailServer):
    """Answers 451 (temporarily unavailable) while ``refuse`` is set, counting the tries."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = True
        self.tries = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.tries += 1
        return await super().handle_DATA(server, session, envelope)


async def status(b: Browser, lang: str) -> str:
    return (await b.get(f"/{lang}/portal")).text(".status")


async def test_the_portal_says_being_sent_until_the_mail_server_accepts(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    server = RefusingFirst()
    settings = settings.model_copy(update={"smtp_port": server.port})
    address = new_address()
    with server.serving():
        async with new_worker(client, settings), browser(settings, client) as b:
            page = await sign_up(b, "en", f"Port{uuid.uuid4().hex[:7]}")
            page = await b.submit(page, "issued")
            page = await create_user_account(b, "en", address)
            assert page.h1 == "Your user account is now created"
            await until(lambda: server.tries >= 1, what="the mail server to refuse a first time")

            assert await status(b, "en") == f"A confirmation message is being sent to {address}."
            assert await status(b, "fr") == (
                f"Un message de confirmation est en cours d'envoi à {address}."
            )

            server.refuse = False  # the next retry goes through

            async def said_sent() -> bool:
                return (await status(b, "en")).startswith("A confirmation message was sent")

            await until(said_sent, what="the portal to say the message was sent", timeout=30)
            assert (await status(b, "en")).startswith(
                f"A confirmation message was sent to {address}. The link expires on "
            )
            assert (await status(b, "fr")).startswith(
                f"Un message de confirmation a été envoyé à {address}. Le lien expire le "
            )
            assert server.tries >= 2

            # A new link: the same again, and the notice says so too.
            server.refuse, tries = True, server.tries
            page = await b.get("/en/portal")
            page = await b.submit(page, "new-link")
            assert page.text(".notice") == (
                f"A new confirmation link is being sent to {address}. Earlier links no longer work."
            )
            await until(lambda: server.tries > tries, what="the mail server to refuse the new link")
            assert await status(b, "en") == f"A confirmation message is being sent to {address}."
            server.refuse = False
            await until(said_sent, what="the portal to say the new link was sent", timeout=30)
