"""Notification activities: the confirmation e-mail and its reminder, support's link back to
a journey, and the notice that a GCKey locked, in the reader's language."""

from __future__ import annotations

from email.message import EmailMessage
from functools import partial

from temporalio import activity

from activities.email import EmailSender, EmailTemplates
from activities.outbox import Outbox
from core.languages import supported_language
from core.links import ConfirmationLink, ResumeLink, make_resume_token, make_token
from i18n import format_when
from workflows import rules
from workflows.activity_types import (
    SendConfirmationEmailInput,
    SendConfirmationEmailResult,
    SendLockNoticeInput,
    SendLockNoticeResult,
    SendResumeEmailInput,
    SendResumeEmailResult,
)
from workflows.types import (
    EmailKind,
)


class NotificationActivities:
    def __init__(
        self,
        sender: EmailSender,
        *,
        outbox: Outbox,
        secret_key: str,
        public_url: str,
        mail_from: str,
    ) -> None:
        self._sender = sender
        self._outbox = outbox
        self._secret_key = secret_key
        self._public_url = public_url.rstrip("/")
        self._templates = EmailTemplates(mail_from)

    @activity.defn
    async def send_confirmation_email(
        self, input: SendConfirmationEmailInput
    ) -> SendConfirmationEmailResult:
        message_id = await self._send_once(self.compose(input), input.journey_id)
        activity.logger.info("sent %s e-mail, link %d", input.kind.value, input.link_number)
        return SendConfirmationEmailResult(message_id=message_id)

    # Sends what the send_resume_link update asked for; history knows it by its deployed name,
    # the update's own.
    @activity.defn(name="send_resume_link")
    async def send_resume_email(self, input: SendResumeEmailInput) -> SendResumeEmailResult:
        """Support's link back to a journey where it stopped."""
        lang = supported_language(input.language)
        token = make_resume_token(
            self._secret_key, ResumeLink(input.journey_id, input.resume_link_number)
        )
        message = self._templates.compose(
            language=lang,
            to=input.to,
            subject=rules.N_("Continue your CERS registration"),
            template="resume",
            context={"link": f"{self._public_url}/{lang}/resume/{token}"},
        )
        message["Message-ID"] = (
            f"<{input.journey_id}.resume.{input.resume_link_number}@{self._domain()}>"
        )
        message_id = await self._send_once(message, input.journey_id)
        activity.logger.info("sent resume link %d", input.resume_link_number)
        return SendResumeEmailResult(message_id=message_id)

    @activity.defn
    async def send_lock_notice(self, input: SendLockNoticeInput) -> SendLockNoticeResult:
        """The owner learns of the lock here, not on the sign-in page: when it ends, and that
        Forgot your password? ends it now."""
        lang = supported_language(input.language)
        message = self._templates.compose(
            language=lang,
            to=input.to,
            subject=rules.N_("Your GCKey is locked for now"),
            template="locked",
            context={
                "failures": input.failures,
                "until": format_when(input.locked_until, lang, input.time_zone),
                "forgot_password": f"{self._public_url}/{lang}/gckey/forgot-password",
            },
        )
        message["Message-ID"] = f"<{input.journey_id}.lock.{input.lock_number}@{self._domain()}>"
        message_id = await self._send_once(message, input.journey_id)
        activity.logger.info("sent the notice of lock %d", input.lock_number)
        return SendLockNoticeResult(message_id=message_id)

    async def _send_once(self, message: EmailMessage, journey_id: str) -> str:
        """Sends the message unless the mail server has accepted it already. Every message
        has the same Message-ID on every attempt, so an attempt whose send went through but
        whose completion never reached Temporal leaves its row here, and the retry sends
        nothing. What remains is the time between the server's 250 and the row's commit
        (README, "E-mail at most once"): the row is written right on the 250."""
        message_id = str(message["Message-ID"])
        if await self._outbox.accepted(message_id):
            activity.logger.info("the mail server already accepted this message: not sent again")
            return message_id
        await self._sender.send(
            message, accepted=partial(self._outbox.record, message_id, journey_id)
        )
        return message_id

    def _domain(self) -> str:
        return self._templates.mail_from.rsplit("@", 1)[-1].strip("> ") or "cers.example.ca"

    def compose(self, input: SendConfirmationEmailInput) -> EmailMessage:
        lang = supported_language(input.language)
        token = make_token(self._secret_key, ConfirmationLink(input.journey_id, input.link_number))
        reminder = input.kind is EmailKind.REMINDER
        message = self._templates.compose(
            language=lang,
            to=input.to,
            subject=rules.N_("Reminder: confirm your e-mail address for CERS")
            if reminder
            else rules.N_("Confirm your e-mail address for CERS"),
            template="confirmation",
            context={
                "given_name": input.given_name,
                "urn": rules.format_urn(input.urn),
                "link": f"{self._public_url}/{lang}/confirm/{token}",
                "new_link": f"{self._public_url}/{lang}/portal",
                "expires": format_when(input.expires_at, lang, input.time_zone),
                "reminder": reminder,
            },
        )
        message["Message-ID"] = (
            f"<{input.journey_id}.{input.link_number}.{input.kind.value}@{self._domain()}>"
        )
        return message
