"""An address the mail server refuses for good (an SMTP 5xx), with the real SMTP server: the
refusal is final, not retried forever. A 4xx is still retried."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import pytest
from temporalio.exceptions import ApplicationError

from activities.email import SmtpSender
from tests.conftest import MailCatcher
from tests.journeys import new_address
from workflows.types import MAIL_REFUSED

UNKNOWN_USER = "550 5.1.1 <{}>: Recipient address rejected: User unknown"


def message_to(address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "cers@example.ca", address, "Test"
    message.set_content("Test")
    return message


async def test_a_lasting_refusal_is_final_and_a_passing_one_is_retried(smtp: MailCatcher) -> None:
    sender = SmtpSender("127.0.0.1", smtp.port)
    unknown, rejected = new_address(), new_address()
    smtp.unknown.add(unknown)
    smtp.rejected.add(rejected)
    for address, answer in ((unknown, UNKNOWN_USER.format(unknown)), (rejected, "554 5.7.1")):
        with pytest.raises(ApplicationError) as refused:
            await sender.send(message_to(address))
        assert (refused.value.type, refused.value.non_retryable) == (MAIL_REFUSED, True)
        assert str(refused.value.details[0]).startswith(answer)
    smtp.refuse = True  # 451: the server may take it later
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as later:
            await sender.send(message_to(new_address()))
        assert later.value.code == 451
    finally:
        smtp.refuse = False
