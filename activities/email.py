"""Sending e-mail: a small Protocol, and the SMTP implementation the service runs with."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Sends the message and returns its Message-ID."""
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

    async def send(self, message: EmailMessage) -> str:
        if "Message-ID" not in message:
            message["Message-ID"] = make_msgid(domain="cers.example.ca")
        await aiosmtplib.send(
            message,
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._starttls,
            timeout=self._timeout,
        )
        return str(message["Message-ID"])
