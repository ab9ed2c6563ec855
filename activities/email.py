"""Sending e-mail: a small Protocol, and the SMTP implementation the service runs with."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, select_autoescape
from temporalio.exceptions import ApplicationError

from core.languages import supported_language
from i18n import translations
from workflows.rules import N_
from workflows.types import MAIL_REFUSED

TEMPLATES = Path(__file__).parent / "templates" / "email"
ADDRESS = re.compile(r"[^\s<>()\[\]'\",;:]+@[^\s<>()\[\]'\",;:]+")
BRACKETED_ADDRESS = re.compile(rf"<?{ADDRESS.pattern}>?")
# The default MAIL_FROM's name, which the French catalog gives as "SCDE": the sender's name
# is read in the reader's language like the rest of the message.
SENDER_NAME = N_("CERS")


class MailNotSent(Exception):
    """The mail server did not take the message. Its answer, without any e-mail address: this
    is what the worker logs, what the retry shows staff and what history keeps."""


# Awaited the moment the mail server has taken a message (its 250 to DATA), before anything
# else is said on the connection: the outbox keeps it there (activities/outbox.py).
Accepted = Callable[[], Awaitable[None]]


class EmailSender(Protocol):
    async def send(self, message: EmailMessage, *, accepted: Accepted | None = None) -> str:
        """Sends the message and returns its Message-ID; ``accepted`` is awaited as soon as
        the server has taken it."""
        ...


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 20,
    ) -> None:
        self._host, self._port = host, port
        self._username, self._password = username or None, password or None
        self._starttls, self._timeout = starttls, timeout

    async def send(self, message: EmailMessage, *, accepted: Accepted | None = None) -> str:
        if "Message-ID" not in message:
            message["Message-ID"] = make_msgid(domain="cers.example.ca")
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._starttls,
            timeout=self._timeout,
        )
        try:
            await client.connect()
            await client.send_message(message)
            if accepted is not None:
                # Before the QUIT: its round trip would widen the window in which the server
                # has the message and the outbox does not know it yet.
                await accepted()
            # Taken: a QUIT that goes wrong changes nothing.
            with contextlib.suppress(aiosmtplib.SMTPException):
                await client.quit()
        except aiosmtplib.SMTPException as err:
            # A refusal names the recipient (and often the server repeats it); from None, so
            # the traceback does not carry the original either.
            if (lasting := lasting_refusal(err)) is not None:
                raise refused(lasting) from None
            raise MailNotSent(ADDRESS.sub("<address>", str(err))) from None
        finally:
            # Not aiosmtplib.send: on its way out it waits for the answer to a QUIT, so an
            # attempt cancelled by a stopping worker hung on for the whole SMTP timeout.
            client.close()
        return str(message["Message-ID"])


def lasting_refusal(err: aiosmtplib.SMTPException) -> aiosmtplib.SMTPResponseException | None:
    """The server's answer if it refused the recipient (every one) or the message with an
    SMTP 5xx: it will answer the same however often it is asked. A 4xx, a dropped connection
    or a timeout may pass, and the activity is retried."""
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused):
        lasting = [r for r in err.recipients if 500 <= r.code < 600]
        return lasting[0] if lasting and len(lasting) == len(err.recipients) else None
    if isinstance(err, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return err if 500 <= err.code < 600 else None
    return None


def refused(err: aiosmtplib.SMTPResponseException) -> ApplicationError:
    """The refusal as a business error the journey records: the server's answer on one line,
    without any e-mail address (the journey knows which address it sent to)."""
    answer = " ".join(f"{err.code} {err.message}".split())
    answer = BRACKETED_ADDRESS.sub("<address>", answer)[:300]
    return ApplicationError(
        f"the mail server refused the message: {answer}",
        answer,
        type=MAIL_REFUSED,
        non_retryable=True,
    )


class EmailTemplates:
    """E-mail as the reader reads it: their language, a plain-text body from
    ``templates/email/<name>.txt`` and, where one exists, an HTML one from ``<name>.html``."""

    def __init__(self, mail_from: str) -> None:
        self.mail_from = mail_from
        self._jinja = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
        )

    def compose(
        self, *, language: str, to: str, subject: str, template: str, context: dict[str, Any]
    ) -> EmailMessage:
        """``subject`` is an English msgid, translated here."""
        lang = supported_language(language)
        tr = translations(lang)
        self._jinja.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
        message = EmailMessage()
        message["Subject"] = tr.gettext(subject)
        name, address = parseaddr(self.mail_from)
        message["From"] = formataddr((tr.gettext(name), address)) if name else self.mail_from
        message["To"] = to
        message.set_content(self._jinja.get_template(f"{template}.txt").render(context))
        if f"{template}.html" in self._jinja.list_templates():
            html = self._jinja.get_template(f"{template}.html").render(context, lang=lang)
            message.add_alternative(html, subtype="html")
        # After the body: setting the content drops every Content-* header set before it.
        message["Content-Language"] = lang
        return message
