"""Forgot password: the confirmation code goes to the recovery e-mail, and only its hash stays."""

from __future__ import annotations

import asyncio
import secrets
from email.message import EmailMessage

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from activities.email import EmailSender, EmailTemplates
from core.hashing import hash_secret
from db.models import GCKey, ResetCode
from workflows import rules
from workflows.reset_types import (
    SendResetCodeInput,
    SendResetCodeResult,
)

CODE_DIGITS = 6


class PasswordResetActivities:
    def __init__(self, engine: Engine, sender: EmailSender, *, mail_from: str) -> None:
        self._engine = engine
        self._sender = sender
        self._templates = EmailTemplates(mail_from)

    @activity.defn
    async def send_reset_code(self, input: SendResetCodeInput) -> SendResetCodeResult:
        """Makes a code, keeps its hash, and mails it to the recovery e-mail if there is one.
        The code is made here, not in the workflow, so it never enters history; a retry makes
        a new code and the newest e-mail is the one that works."""
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        to = await asyncio.to_thread(self._store_code, input, code)
        if not to:
            activity.logger.info("no recovery e-mail on file: no code sent")
            return SendResetCodeResult(sent=False)
        await self._sender.send(self.compose(input, to, code))
        activity.logger.info("sent a password reset code")
        return SendResetCodeResult(sent=True)

    def _store_code(self, input: SendResetCodeInput, code: str) -> str:
        """The recovery e-mail the code goes to, or "" when there is none."""
        with Session(self._engine) as session:
            gckey = session.get(GCKey, input.journey_id) if input.journey_id else None
            if gckey is None or not gckey.recovery_email or gckey.expired_at is not None:
                return ""
            row = session.get(ResetCode, input.reset_id) or ResetCode(
                reset_id=input.reset_id,
                journey_id=input.journey_id,
                code_hash="",
                sent_at=input.requested_at,
            )
            row.code_hash = hash_secret(code)
            session.add(row)
            session.commit()
            return gckey.recovery_email

    def compose(self, input: SendResetCodeInput, to: str, code: str) -> EmailMessage:
        return self._templates.compose(
            language=input.language,
            to=to,
            subject=rules.N_("Your GCKey confirmation code"),
            template="reset_code",
            context={"code": code},
        )
