"""Notification activities: the confirmation e-mail and its reminder, in the user's language."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from temporalio import activity

from activities.email import EmailSender
from i18n import format_when, translations
from workflows import rules
from workflows.links import ConfirmationLink, ResumeLink, make_resume_token, make_token
from workflows.types import (
    EmailKind,
    SendConfirmationEmailInput,
    SendConfirmationEmailResult,
    SendResumeEmailInput,
    SendResumeEmailResult,
)

TEMPLATES = Path(__file__).parent / "templates" / "email"


class NotificationActivities:
    def __init__(
        self, sender: EmailSender, *, secret_key: str, public_url: str, mail_from: str
    ) -> None:
        self._sender = sender
        self._secret_key = secret_key
        self._public_url = public_url.rstrip("/")
        self._mail_from = mail_from
        self._jinja = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
        )

    @activity.defn
    async def send_confirmation_email(
        self, input: SendConfirmationEmailInput
    ) -> SendConfirmationEmailResult:
        message = self.compose(input)
        message_id = await self._sender.send(message)
        activity.logger.info("sent %s e-mail, link %d", input.kind.value, input.link_number)
        return SendConfirmationEmailResult(message_id=message_id)

    @activity.defn
    async def send_resume_link(self, input: SendResumeEmailInput) -> SendResumeEmailResult:
        """Support's link back to a journey where it stopped."""
        lang = input.language if input.language in rules.LANGUAGES else "en"
        token = make_resume_token(
            self._secret_key, ResumeLink(input.journey_id, input.resume_link_number)
        )
        tr = translations(lang)
        self._jinja.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
        message = EmailMessage()
        message["Subject"] = tr.gettext("Continue your CERS registration")
        message["From"] = self._mail_from
        message["To"] = input.to
        message["Content-Language"] = lang
        link = f"{self._public_url}/{lang}/resume/{token}"
        message.set_content(self._jinja.get_template("resume.txt").render(link=link))
        message_id = await self._sender.send(message)
        activity.logger.info("sent resume link %d", input.resume_link_number)
        return SendResumeEmailResult(message_id=message_id)

    def compose(self, input: SendConfirmationEmailInput) -> EmailMessage:
        lang = input.language if input.language in rules.LANGUAGES else "en"
        token = make_token(self._secret_key, ConfirmationLink(input.journey_id, input.link_number))
        context = {
            "given_name": input.given_name,
            "urn": rules.format_urn(input.urn),
            "link": f"{self._public_url}/{lang}/confirm/{token}",
            "new_link": f"{self._public_url}/{lang}/portal",
            "expires": format_when(input.expires_at, lang, input.time_zone),
            "reminder": input.kind is EmailKind.REMINDER,
        }
        tr = translations(lang)
        self._jinja.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
        message = EmailMessage()
        message["Subject"] = (
            tr.gettext("Reminder: confirm your e-mail address for CERS")
            if input.kind is EmailKind.REMINDER
            else tr.gettext("Confirm your e-mail address for CERS")
        )
        message["From"] = self._mail_from
        message["To"] = input.to
        message["Content-Language"] = lang
        domain = self._mail_from.rsplit("@", 1)[-1].strip("> ") or "cers.example.ca"
        message["Message-ID"] = (
            f"<{input.journey_id}.{input.link_number}.{input.kind.value}@{domain}>"
        )
        message.set_content(self._jinja.get_template("confirmation.txt").render(context))
        message.add_alternative(
            self._jinja.get_template("confirmation.html").render(context, lang=lang),
            subtype="html",
        )
        return message
